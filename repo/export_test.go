package repo

import "snap/repo/format"

// Test hooks for the external test package.

// SetAfterRepack sets a function prune calls between its two phases.
func SetAfterRepack(o *PruneOptions, f func()) { o.afterRepack = f }

// SetOnSeal makes every Writer call f with the type and plaintext length
// of each new blob it seals (from its worker goroutines, so f must be safe
// for concurrent use), until the returned function is called.
func SetOnSeal(f func(typ format.BlobType, plainLen int)) (reset func()) {
	onSeal = f
	return func() { onSeal = nil }
}
