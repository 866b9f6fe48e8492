package location

import (
	"context"

	"snap/repo/backend"
	"snap/repo/backend/sftp"
)

// openSFTP connects through the system's ssh (or SNAP_SSH_COMMAND); with
// Create it makes the directory, its parents and the file type folders.
// The timeout bounds ssh's connect and keepalives and the SFTP answers
// (package sftp).
func openSFTP(ctx context.Context, loc Location, o Options) (backend.Backend, error) {
	l := loc.(SFTP)
	be, err := sftp.Open(ctx, sftp.Config{User: l.User, Host: l.Host, Port: l.Port, Path: l.Path, Name: l.String(), Timeout: o.timeout()}, o.Create)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return be, nil
}
