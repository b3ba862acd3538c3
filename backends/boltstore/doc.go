// Package boltstore is the durable single-file backend: every session record
// lives in one bbolt file, and a restart or crash of the gateway loses no
// acknowledged write and no lock.
//
// # What it does
//
// Store implements backends.Backend. Apply takes the key's in-process lock
// (locking.KeyLocks), checks and slides the key's deadline in an in-memory
// index, reads the record (from memory if it was written since the last
// checkpoint, else in a bbolt read transaction), runs the transition, and,
// only if the transition returns Store or Delete, hands the write to the
// writer goroutine and waits until it is durable in the write-ahead log. A
// read never writes to disk; see Expiry.
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
// (aspstate.meta also holds "covered", int64: the newest log segment that
// the last deadline flush found checkpointed; see below.)
//
// Integers are big endian. Deadlines live apart from records so that Open
// reads 12 bytes per session and never pages in the blobs. A bbolt file
// without the meta bucket that holds other buckets is someone else's and is
// refused, as is a file whose format version is newer than this build's.
//
// # Write-ahead log and checkpoints
//
// Beside the file are its log segments, <path>.wal.<16 hex digits>,
// numbered upwards and never reused. The writer goroutine appends each
// group-commit batch (Store and Delete records, and the sweeper's deletions)
// to the live segment in one write and one fdatasync, then publishes the
// batch in the index: each written key's entry points at its encoded record
// (its pending record), which Apply reads instead of bbolt. One write and
// one fdatasync of a few sequential KiB per batch replace bbolt's commit
// (a pwrite per dirty page in two buckets and two fdatasyncs).
//
// A record is a length, a CRC-32C and the payload (op, key, deadline,
// timeout, encoded record); a segment starts with an 8-byte magic. A failed
// append (write or fdatasync) is answered with the error and truncated
// back, so an unacknowledged batch never stays ahead of later ones; if the
// truncate fails too, appends fail until one succeeds.
//
// The checkpointer goroutine, the only one writing to bbolt while the store
// is open, has the writer switch to a new segment every 500 ms (or once the
// live one holds 64 MiB), then writes the current state of every key logged
// in the retired segments to bbolt in one synced transaction per 5,000
// keys (sorted, each key once however often it was written): its pending
// record with its current deadline, or a deletion if the index no longer
// has it. Then it drops the pending records it wrote (unless a newer write
// replaced them) and deletes the retired segments, oldest first, each
// removal made durable before the next. A failed checkpoint is logged and
// retried; the records stay in the log and in memory meanwhile.
//
// Recovery invariant: after any crash the segments left are the newest
// ones, every acknowledged write is in bbolt or in one of them, and bbolt
// may be ahead of them (a checkpoint writes a key's current state, which
// can come from a later segment) but never behind for a key that has no
// record in them. Open replays the segments in order into bbolt: every
// record is a whole-record put or a delete, so the last one per key wins
// and the result is the newest acknowledged state. A short or bad record
// at the end of the newest segment is a torn, unacknowledged append and is
// ignored; one in an older segment is corruption and refuses Open. Then
// Open deletes the segments and starts a new one. A clean Close checkpoints
// everything, flushes deadlines, marks the file clean and leaves no
// segment, so the .db file alone is a complete backup after a clean stop.
//
// # Expiry
//
// The in-memory index holds every stored key's deadline; it is the truth
// while the process runs. An Apply that finds a live record slides the
// deadline in memory only; an expired record is invisible at once (the
// transition sees nil) and the sweeper goroutine has it removed every
// SweepInterval in batches of 1,000: the writer re-checks each key (so a
// record slid meanwhile stays), takes it out of the index and logs its
// deletion, and the next checkpoint removes it from the file. The sweeper does not scan the index: each
// entry is filed in a timing wheel under its deadline's second, and slides do
// not refile it; when its second comes due a slid entry is refiled under its
// new deadline, so the sweeper's work is O(1) per entry per timeout.
//
// Slid deadlines reach the file lazily: every FlushInterval, if any deadline
// moved, the checkpointer takes the flush's snapshot time F, checkpoints
// everything logged so far, and writes all moved deadlines in one
// transaction together with F, the newest segment that checkpoint covered,
// and a lease L = F + 12 flush intervals.
// A read that slides a deadline at or after the durable lease waits for a
// flush first (at most once per lease in a busy store; once per idle period
// in a quiet one). So after a crash, for each key with persisted deadline d
// and timeout t: if d < F the key was already expired at the last flush and
// stays dead; otherwise it may have been read at any instant before L, and
// the store restores max(d, L + t). That is an upper bound of the deadline
// the memory backend would have, so a crash never expires a session early;
// it may keep one alive up to one lease plus one timeout after the crash.
// ("d + FlushInterval" is not a bound: a read long after the last persisted
// slide moves the deadline far beyond it.) Log segments up to the covered
// one are already in bbolt and replay skips them. Every record in a later
// segment was logged after F; replay gives it max(logged deadline, L + t)
// for the same reason (reads after the write slid it before L). A
// checkpoint writes a key's current deadline, so a key live at F never has
// a persisted deadline below F. After a clean Close every deadline was
// written and Open restores them exactly.
//
// # Concurrency contract
//
// All methods are safe for concurrent use. Apply calls on one key are
// serialised by the key lock, held from the index check to the end of the
// write; Apply calls on different keys run in parallel. One writer goroutine
// appends to the log: it batches the writes that arrive while it syncs into
// one append (group commit, no added delay for a lone write) and logs sweep
// deletions between batches. One checkpointer goroutine opens every bbolt
// write transaction (checkpoints and deadline flushes) and switches the
// writer's segments. A pending record is only set by the writer (under the
// key lock its Apply holds) and cleared by the checkpointer after its
// transaction committed, so an Apply that finds none reads a bbolt that
// already holds the record. The sweeper only scans the index; the trimmer
// only drops mapped pages (see the end of this documentation). All four
// goroutines are owned by the Store and stopped by Close, which first waits
// for Apply calls in progress.
//
// # Durability and sync policy
//
// Sync "always" (the default): a write is in the log and fdatasynced before
// Apply returns; concurrent writers share the append and the fdatasync. A new
// segment's header and directory entry are synced before it takes records,
// checkpoints are fully synced bbolt transactions, and segment removals are
// synced in order. Survives kill -9 and power loss with no acknowledged
// write or lock lost. Sync "none": no fdatasync of the log, bbolt's NoSync;
// a write is in the page cache before Apply returns, so kill -9 loses
// nothing, but a power loss or kernel crash may lose recent writes or
// corrupt the file. Deadline flushes follow the same policy.
//
// # Errors
//
// Open refuses, naming the path: a file locked by another process (after
// one second), a file that is not bbolt or is corrupt (a bbolt panic while
// opening becomes an error; its file lock is then held until the process
// exits), a foreign or newer-format file, log segments beside a file that
// has no sessions bucket, a corrupt older log segment. At run time a failed
// read or log append (disk full, I/O error) is returned by Apply, wrapped
// with the path: nothing is acknowledged that is not durable in the log, and
// the store keeps serving what it can. A failed checkpoint, deadline flush
// or sweep is logged and retried.
//
// # Who owns returned byte slices
//
// The record passed to a transition points into bbolt's memory map (or into
// a pending record, which is never modified) and is valid only while the
// transition runs. Change.Record.Data may alias it: the
// store encodes (copies) the record before the read transaction ends. Apply
// retains nothing of the caller's: keys kept in the index are cloned.
//
// # What it deliberately does not do
//
// No capacity limit (it never returns ErrFull), no empty keys (bbolt cannot
// store them; the gateway never sends one), no compaction of the file (bbolt
// reuses freed pages but never shrinks the file; use `bbolt compact` offline),
// no sharing of one file between processes, no replication. Memory: the index
// is about 210 MiB of Go heap for 1,000,000 sessions with 96-byte keys, plus
// the pending records (the writes of the last checkpoint interval, each key
// once). bbolt's memory map adds to RSS the file pages that have been
// touched (page cache, reported as RssFile); every 250 ms a trimmer goroutine
// reads the process's resident file-backed memory (/proc/self/statm, Linux
// only) and, above 128 MiB, drops the map's pages with MADV_DONTNEED inside
// a read transaction, which holds bbolt's mmap lock so the map cannot move
// meanwhile. The pages stay in the page cache; the next read maps them
// again with a minor fault.
package boltstore
