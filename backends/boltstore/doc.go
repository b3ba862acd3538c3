// Package boltstore is the durable single-file backend: every session record
// lives in one bbolt file, and a restart or crash of the gateway loses no
// acknowledged write and no lock.
//
// # What it does
//
// Store implements backends.Backend. Apply takes the key's in-process lock
// (locking.KeyLocks), checks and slides the key's deadline in an in-memory
// index, reads the record in a bbolt read transaction, runs the transition
// inside it, and, only if the transition returns Store or Delete, hands the
// write to the writer goroutine and waits for it to commit. A read never
// writes to disk; see Expiry.
//
// # File format and key layout
//
// Three top-level buckets, all keys the session key's bytes as given (keys
// are opaque; 1..32768 bytes, bbolt's limit):
//
//	aspstate.meta   format   uint32 format version (1); a newer one is refused
//	                clean    1 after a clean Close, 0 while a process has it open
//	                flushed  int64 Unix ns: snapshot time of the last deadline flush
//	                lease    int64 Unix ns: see Expiry
//	sessions        key -> record: version byte, flags (uninitialized, locked,
//	                has lock date), Timeout, LockCookie, LockDate (seconds and
//	                nanoseconds), then Data. The whole backends.Record, so lock
//	                state and cookies survive restarts.
//	deadlines       key -> deadline (int64 Unix ns) and Timeout (int32)
//
// Integers are big endian. Deadlines live apart from records so that Open
// reads 12 bytes per session and never pages in the blobs. A bbolt file
// without the meta bucket that holds other buckets is someone else's and is
// refused, as is a file whose format version is newer than this build's.
//
// # Expiry
//
// The in-memory index holds every stored key's deadline; it is the truth
// while the process runs. An Apply that finds a live record slides the
// deadline in memory only; an expired record is invisible at once (the
// transition sees nil) and the sweeper goroutine removes it from the file
// every SweepInterval in batches of 1,000 (the writer re-checks each key, so
// a record slid meanwhile stays). The sweeper does not scan the index: each
// entry is filed in a timing wheel under its deadline's second, and slides do
// not refile it; when its second comes due a slid entry is refiled under its
// new deadline, so the sweeper's work is O(1) per entry per timeout.
//
// Slid deadlines reach the file lazily: every FlushInterval, if any deadline
// moved, the writer writes all moved deadlines in one transaction together
// with the flush's snapshot time F and a lease L = F + 12 flush intervals.
// A read that slides a deadline at or after the durable lease waits for a
// flush first (at most once per lease in a busy store; once per idle period
// in a quiet one). So after a crash, for each key with persisted deadline d
// and timeout t: if d < F the key was already expired at the last flush and
// stays dead; otherwise it may have been read at any instant before L, and
// the store restores max(d, L + t). That is an upper bound of the deadline
// the memory backend would have, so a crash never expires a session early;
// it may keep one alive up to one lease plus one timeout after the crash.
// ("d + FlushInterval" is not a bound: a read long after the last persisted
// slide moves the deadline far beyond it.) After a clean Close every deadline
// was written and Open restores them exactly.
//
// # Concurrency contract
//
// All methods are safe for concurrent use. Apply calls on one key are
// serialised by the key lock, held from the index check to the end of the
// write; Apply calls on different keys run in parallel. One writer goroutine
// opens every bbolt write transaction: it batches the writes that arrive
// while it commits into one transaction (group commit, no added delay for a
// lone write), and runs deadline flushes and sweep deletions between
// batches. The sweeper only scans the index. Both goroutines are owned by the
// Store and stopped by Close, which first waits for Apply calls in progress.
//
// # Durability and sync policy
//
// Sync "always" (the default): a write is fsynced before Apply returns;
// concurrent writers share the transaction and the fsync. Survives kill -9
// and power loss with no acknowledged write or lock lost. Sync "none": bbolt's
// NoSync; a committed write is in the page cache, so kill -9 loses nothing,
// but a power loss or kernel crash may lose recent writes or corrupt the
// file. Deadline flushes follow the same policy.
//
// # Errors
//
// Open refuses, naming the path: a file locked by another process (after
// one second), a file that is not bbolt or is corrupt (a bbolt panic while
// opening becomes an error; its file lock is then held until the process
// exits), a foreign or newer-format file. At run time a failed read or write
// (disk full, I/O error) is returned by Apply, wrapped with the path: nothing
// is acknowledged that did not commit, and the store keeps serving what it
// can. A failed deadline flush or sweep is logged and retried on the next
// tick.
//
// # Who owns returned byte slices
//
// The record passed to a transition points into bbolt's memory map and is
// valid only while the transition runs. Change.Record.Data may alias it: the
// store encodes (copies) the record before the read transaction ends. Apply
// retains nothing of the caller's: keys kept in the index are cloned.
//
// # What it deliberately does not do
//
// No capacity limit (it never returns ErrFull), no empty keys (bbolt cannot
// store them; the gateway never sends one), no compaction of the file (bbolt
// reuses freed pages but never shrinks the file; use `bbolt compact` offline),
// no sharing of one file between processes, no replication. Memory: the index
// is about 210 MiB of Go heap for 1,000,000 sessions with 96-byte keys; bbolt's
// memory map adds to RSS the file pages that have been touched (reclaimable
// page cache, reported as RssFile, not anonymous memory).
package boltstore
