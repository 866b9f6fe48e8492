// Package chunk splits streams into content-defined chunks with the
// repository's secret polynomial and size bounds (github.com/restic/chunker).
// It knows nothing of crypto or storage.
package chunk

import (
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// Params are a repository's chunking settings, stored sealed in its config.
type Params struct {
	Pol     chunker.Pol `json:"polynomial"`
	Min     uint        `json:"min_size"`
	Max     uint        `json:"max_size"`
	AvgBits int         `json:"average_bits"`
}

// Default bounds, chosen by measurement (docs/format.md "Chunking").
const (
	DefaultMin     = 512 << 10
	DefaultMax     = 8 << 20
	DefaultAvgBits = 20
)

// NewParams returns default bounds with a fresh random irreducible
// polynomial, so chunk boundaries are secret to key holders.
func NewParams() (Params, error) {
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return Params{}, fmt.Errorf("chunker polynomial: %w", err)
	}
	return Params{Pol: pol, Min: DefaultMin, Max: DefaultMax, AvgBits: DefaultAvgBits}, nil
}

// Validate checks params read from a config.
func (p Params) Validate() error {
	switch {
	case p.Pol.Deg() != 53 || !p.Pol.Irreducible():
		return errors.New("chunker polynomial is not an irreducible polynomial of degree 53")
	case p.Min < 64 || p.Min > p.Max || p.Max > 64<<20:
		return fmt.Errorf("chunk bounds min %d max %d are out of range", p.Min, p.Max)
	case p.AvgBits < 10 || p.AvgBits > 26:
		return fmt.Errorf("chunk average bits %d out of range 10..26", p.AvgBits)
	}
	return nil
}

// Chunker cuts one stream. Not safe for concurrent use.
type Chunker struct {
	c *chunker.Chunker
	p Params
}

// New returns a chunker reading r.
func New(r io.Reader, p Params) *Chunker {
	c := chunker.NewWithBoundaries(r, p.Pol, p.Min, p.Max)
	c.SetAverageBits(p.AvgBits)
	return &Chunker{c: c, p: p}
}

// Reset reuses the chunker (and its tables and buffer) for another stream.
func (c *Chunker) Reset(r io.Reader) {
	c.c.ResetWithBoundaries(r, c.p.Pol, c.p.Min, c.p.Max)
	c.c.SetAverageBits(c.p.AvgBits)
}

// Next fills buf (grown if needed; pass a buffer of cap Max to avoid
// allocation) with the next chunk. It returns io.EOF after the last one.
func (c *Chunker) Next(buf []byte) ([]byte, error) {
	ch, err := c.c.Next(buf)
	if err != nil {
		return nil, err
	}
	return ch.Data, nil
}
