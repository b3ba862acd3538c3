// Package backends defines the contract between the gateway and the stores that
// keep session records: memory, bbolt, badger and Redis, one driver package each
// (backends/memstore, backends/boltstore, backends/badgerstore, backends/redisstore).
//
// # What a backend does
//
// A backend keeps one [Record] per key and applies read-modify-write
// transitions to it atomically: [Backend.Apply] hands the current record (or nil)
// to a [Transition], which returns a [Change] (keep, store or delete). The lock
// rules of the protocol live in package locking and run in Go, once; a backend
// only guarantees that no other Apply on the same key interleaves between the
// read and the write. Stores one process owns do that with an in-process per-key
// lock; the Redis store, shared by several gateways, with a compare-and-set on a
// version, calling the transition again on conflict.
//
// # Expiry
//
// Expiry is sliding, in whole minutes (Record.Timeout). Every Apply that finds a
// live record slides its deadline to now + Timeout, whatever the transition
// returns, because the reference server slides on every request that finds the
// item. A record whose deadline has passed is invisible at once (the transition
// sees nil) even if no sweep has removed it yet. Sliding on a read must not cost a
// disk write: local stores keep deadlines in memory and persist them lazily.
//
// # Ownership of bytes
//
// The record passed to a transition, and its Data, are valid only while the
// transition runs (a bbolt record points into the memory map, for example): the
// transition copies what it keeps. The Change it returns may alias the current
// Data or the caller's buffers; the backend copies what it stores and retains
// nothing of the caller's after Apply returns. The key is an ordinary,
// immutable string that a store may keep.
//
// # Errors
//
// All sentinels are in errors.go. A backend that cannot answer returns an error
// other than ErrFull; the gateway then closes the client connection rather than
// answer 404 or 200, because a web server treats 404 as "start a new, empty
// session" and ignores the status of writes.
//
// # What it does not do
//
// No lock rules, no protocol parsing, no peer lookups. Drivers take their
// settings as a plain Config struct; only cmd/aspstated knows about koanf.
package backends
