package repo

// Test hooks for the external test package.

// SetAfterRepack sets a function prune calls between its two phases.
func SetAfterRepack(o *PruneOptions, f func()) { o.afterRepack = f }
