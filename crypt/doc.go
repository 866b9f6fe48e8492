// Package crypt holds snap's cryptographic primitives and key files.
//
// # Keys
//
//   - the id key: a 32-byte key for keyed BLAKE3, so blob ids reveal nothing
//     about content ([Key.ID]);
//   - the metadata key: a 32-byte XChaCha20-Poly1305 key ([Sealer]) that seals
//     the config, pack headers, index files, snapshots and reference lists;
//   - the data identity: an age X25519 identity. Each backup run makes a random
//     session key, wraps it to the identity's recipient ([WrapKey]) and seals
//     data blobs with it; only the identity can unwrap it ([UnwrapKey]).
//
// A [Master] is what a user holds: the metadata key and, for a full key, the
// data identity. A write-only master has no identity and can never read data.
//
// Nothing in this package knows about packs, files or storage.
package crypt
