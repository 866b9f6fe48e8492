package s3

import (
	"testing"
	"time"
)

// TestWrittenAt: a versitygw version id (a ULID) gives the time the
// version was written, whatever LastModified says; other ids leave
// LastModified as it is.
func TestWrittenAt(t *testing.T) {
	lm := time.Date(2026, 12, 5, 0, 49, 3, 0, time.UTC)
	for id, want := range map[string]time.Time{
		"01M91TT162RJR24S156KKCRTT5":           time.Date(2026, 12, 5, 0, 49, 2, 146e6, time.UTC),
		"01M91TT21EMRXPDGNMW9C83JAB":           time.Date(2026, 12, 5, 0, 49, 3, 22e6, time.UTC),
		"3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrH":     lm, // AWS
		"null":                                 lm, // written before versioning
		"b1a9e6a2-3d43-4c34-9b5a-0c7e1f2d9a11": lm, // MinIO
		"01M91TT162RJR24S156KKCRTTU":           lm, // U is not in the alphabet
		"81M91TT162RJR24S156KKCRTT5":           lm, // past the 48-bit time
		"01M91TT162RJR24S156KKCRTT":            lm, // 25 characters
		"01m91tt162rjr24s156kkcrtt5":           lm, // lowercase: not what versitygw makes
	} {
		if got := writtenAt(id, lm); !got.Equal(want) {
			t.Errorf("writtenAt(%q) = %v, want %v", id, got, want)
		}
	}
}
