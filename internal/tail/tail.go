// Package tail keeps the end of what is written to it: a command's stderr
// for its error message, a run's log for a monitor.
package tail

import "bytes"

// DefaultMax is what a Buffer with Max 0 keeps.
const DefaultMax = 4096

// Buffer keeps the last Max bytes written (DefaultMax when Max is 0). The
// zero value is ready to use; it is not safe for concurrent writers.
type Buffer struct {
	Max int
	b   []byte
}

func (t *Buffer) Write(p []byte) (int, error) {
	limit := t.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	t.b = append(t.b, p...)
	if len(t.b) > limit {
		t.b = t.b[len(t.b)-limit:]
	}
	return len(p), nil
}

// String is the kept bytes as valid UTF-8 (a cut character is dropped).
func (t *Buffer) String() string { return string(bytes.ToValidUTF8(t.b, nil)) }
