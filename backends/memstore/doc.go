// Package memstore is the in-memory backend: the default for a single box
// replacing aspnet_state.exe, and the oracle of the differential tests.
//
// # What it does
//
// Records live in 256 shards, each a mutex, a map from the key's 64-bit hash
// (computed once per request, for the shard too) to entry, and a timing wheel
// of one-second slots; the rare key whose hash another key already holds goes
// in a second map by key. Apply holds the key's shard lock while the
// transition runs, which makes it atomic. Every access checks the deadline, so
// an expired record is invisible at once; one sweeper goroutine per Store
// removes expired entries every 250 ms, visiting only the wheel slots that
// came due, a bounded batch per lock hold so requests never wait behind a
// large expiry. Sliding a deadline later is O(1) and allocates nothing: the
// entry stays in its slot and is re-filed when that slot comes round.
//
// # Concurrency
//
// All methods are safe for concurrent use. A transition runs under a shard
// lock: it must be quick and must not call back into the Store (that would
// deadlock on a key in the same shard). Close stops the sweeper and waits for
// it.
//
// # Ownership of bytes
//
// The record a transition sees points at the stored Data without a copy;
// stored slices are never written in place (a Store installs a new slice), so
// that is safe, but the transition must not modify it and must copy what it
// keeps. The Store copies Change.Record.Data and clones the key, so it retains
// nothing of the caller's; when a Change hands back the stored slice itself,
// as a lock acquire does, it is kept without a copy. So the Store implements
// both backends.StableData and backends.BorrowedKeys.
//
// # Errors
//
// A Store that would exceed Config.MaxBytes fails with backends.ErrFull and
// evicts nothing; a Data larger than Config.MaxValueSize fails with
// backends.ErrTooLarge. After Close, Apply returns backends.ErrClosed.
//
// # What it does not do
//
// No persistence, no eviction (a full store refuses writes), no timer or
// goroutine per session, no notification on expiry (StateServer mode has no
// Session_End). A Timeout <= 0 gives a deadline of now, so such a record is
// gone at the next instant; the gateway validates timeouts before they get
// here. Lock dates must lie between the years 1678 and 2262 (nanoseconds in
// an int64).
package memstore
