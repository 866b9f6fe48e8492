package s3

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Error is an answer of the server that refused a request (or minio-go's
// word for a connection closed before one). It carries the verdict package
// retry reads through Transient: only this package knows S3's status codes
// and error codes. Other failures without an answer (a reset, a refused
// connection, a stall) are returned as the transport gave them, and judged
// as network failures.
type Error struct {
	Location string // the --repo string: no credentials
	Op       string // what was asked: "write data/ab/…", "list index"
	Status   int    // the HTTP status; 0 when minio-go refused the request itself
	Code     string // S3's error code: AccessDenied, NoSuchBucket, SlowDown...
	Err      error  // minio-go's error, with the server's message

	transient bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Location, e.Op, e.Err)
	if e.Code != "" && !strings.Contains(msg, e.Code) {
		msg += " (" + e.Code + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether the same request may succeed later: the
// server was busy, restarting, throttling or failing inside, not refusing.
func (e *Error) Transient() bool { return e.transient }

// transientCodes are S3 error codes that say "later", whatever the status.
var transientCodes = map[string]bool{
	"SlowDown": true, "SlowDownRead": true, "SlowDownWrite": true, "RequestTimeout": true,
	"InternalError": true, "ServiceUnavailable": true, "Throttling": true, "ThrottlingException": true,
	"RequestLimitExceeded": true, "RequestThrottled": true, "XMinioServerNotInitialized": true,
}

// closedByServer is how minio-go words a connection the server closed
// before answering (it replaces the io.EOF, so the generic network rules
// cannot see it).
const closedByServer = "Connection closed by foreign host"

// serverError returns err as an *Error when it is the server's answer (or
// minio-go's own refusal), with its verdict; nil when the request got no
// answer. Transient: 408, 429, 500, 502, 503, 504 and Cloudflare's
// 520-524, and the codes above (some arrive in a 200's body). Permanent:
// every other answer, such as 400, 403 (AccessDenied,
// InvalidAccessKeyId, SignatureDoesNotMatch), 404 NoSuchBucket, 501 and
// 507; asking again gets the same answer.
func (s *S3) serverError(what string, err error) *Error {
	r := minio.ToErrorResponse(err)
	if r.StatusCode == 0 && r.Code == "" {
		if strings.Contains(err.Error(), closedByServer) {
			return &Error{Location: s.name, Op: what, Err: err, transient: true}
		}
		return nil
	}
	t := transientCodes[r.Code]
	switch st := r.StatusCode; {
	case st == http.StatusRequestTimeout, st == http.StatusTooManyRequests,
		st == http.StatusInternalServerError, st == http.StatusBadGateway,
		st == http.StatusServiceUnavailable, st == http.StatusGatewayTimeout,
		st >= 520 && st <= 524:
		t = true
	}
	return &Error{Location: s.name, Op: what, Status: r.StatusCode, Code: r.Code, Err: err, transient: t}
}
