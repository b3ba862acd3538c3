// Package backends defines the contract between the gateway and the stores that
// keep session records: memory, bbolt, badger and Redis, one driver package each
// (backends/memstore, backends/boltstore, backends/badgerstore, backends/redisstore).
//
// # What it does
//
// A backend keeps one [Record] per key and applies read-modify-write
// transitions to it atomically: [Backend.Apply] hands the current record (or nil)
// to a [Transition], which returns a [Change] (keep, store or delete). The lock
// rules of the protocol live in package locking and run in Go, once; a backend
// only guarantees that no other Apply on the same key interleaves between the
// read and the write. The helpers in this package (Get, Put, Remove) wrap Apply
// for tests and tools.
//
// Expiry is sliding, in whole minutes (Record.Timeout). Every Apply that finds a
// live record slides its deadline to now + Timeout, whatever the transition
// returns, because the reference server slides on every request that finds the
// item (docs/protocol.md §5.2). A record whose deadline has passed is invisible
// at once (the transition sees nil) even if no sweep has removed it yet. Sliding
// on a read must not cost a disk write: local stores keep deadlines in memory and
// persist them lazily.
//
// # Concurrency
//
// Every Backend method is safe for concurrent use. Stores one process owns make
// Apply atomic with an in-process per-key lock (locking.KeyLocks); the Redis
// store, shared by several gateways, with a compare-and-set, calling the
// transition again on conflict. A Transition must therefore be pure.
//
// # Ownership of bytes
//
// The record passed to a transition, and its Data, are valid only while the
// transition runs (a bbolt record points into the memory map, for example): the
// transition copies what it keeps and never modifies it. The Change it returns
// may alias the current Data or the caller's buffers; the backend copies what it
// stores and retains nothing of the caller's after Apply returns. Two optional
// interfaces let a store promise more, and the gateway then skips a copy:
//
//   - [StableData]: the Data a transition sees stays valid and unchanged after
//     Apply returns (memstore, redisstore).
//   - [BorrowedKeys]: the store keeps nothing of the key string, so the gateway
//     may pass one that borrows its read buffer (memstore, boltstore,
//     redisstore). A store without it receives an ordinary string it may keep.
//
// # Errors
//
// All sentinels are in errors.go: ErrClosed after Close; ErrFull when a write
// would exceed a configured capacity and ErrTooLarge when a record's Data is
// too big (nothing is written, and the gateway answers 400); ErrNotFound from
// the helpers only. Any other error means the store could not answer; the
// gateway then closes the client connection rather than answer 404 or 200,
// because a web server treats 404 as "start a new, empty session" and ignores
// the status of writes. Drivers wrap their errors with %w and a package prefix.
//
// # What it does not do
//
// No lock rules, no protocol parsing, no peer lookups. Drivers take their
// settings as a plain Config struct; only cmd/aspstated knows about koanf.
package backends
