package s3

import (
	"context"
	"net"
)

// SetTestDial sends every connection to addr (for virtual-host names).
func SetTestDial(addr string) func() {
	testDial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return func() { testDial = nil }
}
