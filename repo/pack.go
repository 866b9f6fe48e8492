package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"snap/crypt"
	"snap/repo/format"
)

// ReadPackHeader reads a whole pack, checks that its bytes hash to its name
// and returns its key table and blobs from the sealed header. It needs only
// the metadata key.
func (r *Repository) ReadPackHeader(ctx context.Context, name string) ([][]byte, []format.Blob, error) {
	_, keys, blobs, err := r.readVerifiedPack(ctx, name)
	return keys, blobs, err
}

// parsePack opens and parses the trailer of a complete pack.
func (r *Repository) parsePack(b []byte) ([][]byte, []format.Blob, error) {
	if len(b) < 4 {
		return nil, nil, errors.New("shorter than the header length field")
	}
	hl := int64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if hl > int64(len(b))-4 || hl < crypt.Overhead {
		return nil, nil, fmt.Errorf("header length %d does not fit in %d bytes", hl, len(b))
	}
	dataEnd := int64(len(b)) - 4 - hl
	plain, err := r.meta.Open(nil, b[dataEnd:len(b)-4], format.ADPackHeader)
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	return format.ParsePackHeader(plain, dataEnd)
}
