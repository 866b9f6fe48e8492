package s3

import (
	"context"
	"net"
	"net/http"
	"time"

	"snap/internal/stallconn"
)

// bound makes each of rt's connections fail when no byte has moved for
// timeout (package stallconn): however big a body, a pack upload on a slow
// link is never cut off, and a server that hangs is given up on. The
// retrying is package retry's, above the backend (minio-go's is off).
// dial, when not nil, replaces the network dialer (tests). A timeout of 0
// bounds nothing (package location, which opens stores for snap, always
// gives one).
func bound(rt *http.Transport, timeout time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	if timeout <= 0 {
		if dial != nil {
			rt.DialContext = dial
		}
		return
	}
	if dial == nil {
		rt.DialContext = stallconn.Dialer{Timeout: timeout}.DialContext
	} else {
		rt.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return stallconn.New(c, timeout), nil
		}
	}
	// The stall bound covers the wait for an answer too. net/http's own
	// header timeout would not do: its error matches
	// context.DeadlineExceeded, which reads as "the caller gave up".
	rt.ResponseHeaderTimeout = 0
	// Close pooled connections before their idle reader's bound fires.
	rt.IdleConnTimeout = min(rt.IdleConnTimeout, timeout/2)
}
