// Package boltstore is the durable single-file backend: every session record
// lives in one bbolt file, and a restart or crash of the gateway loses no
// acknowledged write and no lock. The reasoning behind the design (file
// layout, the recovery invariant, the deadline lease) is written out in
// docs/design/boltstore.md.
//
// # What it does
//
// Store implements backends.Backend. Apply takes the key's lock
// (locking.KeyLocks), checks and slides the key's deadline in an in-memory
// index, reads the record (its pending copy if it was written since the last
// checkpoint, else from bbolt), runs the transition and, only for Store or
// Delete, hands the write to the writer goroutine and waits until it is
// durable. A read never writes to disk.
//
// Writes go to a write-ahead log beside the file (<path>.wal.<16 hex>):
// concurrent writes share one append and one fdatasync (group commit). A
// checkpointer moves logged records into bbolt every 500 ms or 64 MiB of log,
// then deletes the segments it covered; Open replays what is left. A clean
// Close leaves no segment, so the .db file alone is then a complete backup.
// The log earns its place (issue 16): against bbolt's DB.Batch with the same
// durability the gateway served cycle 5.6x the requests (median of 8 paired
// rounds, `scripts/altbench.sh bbolt 8 10s`; see BENCHMARKS.md).
//
// Deadlines live in memory and reach the file lazily (every FlushInterval),
// under a lease that bounds how far a crash can move them: after a crash a
// session never expires earlier than it would have, and may live up to one
// lease plus one timeout longer. An expired record is invisible at once; the
// sweeper logs its deletion every SweepInterval, through a timing wheel, so
// it never scans the index.
//
// Sync "always" (default) survives kill -9 and power loss with nothing
// acknowledged lost; "none" (no fdatasync, bbolt's NoSync) survives kill -9
// but not a power loss or kernel crash.
//
// On Windows the promises are the same on NTFS or ReFS, with the file
// system's metadata journal in place of the directory syncs (Windows cannot
// flush a directory): see package backends/internal/durable. Do not keep the
// file on FAT32 or exFAT.
//
// # Concurrency
//
// All methods are safe for concurrent use. Apply calls on one key are
// serialised by its key lock, held from the index check to the end of the
// write; different keys run in parallel. Four goroutines belong to the Store
// and stop in Close, which first waits for Apply calls in flight: the writer
// (the only one appending to the log), the checkpointer (the only one writing
// to bbolt), the sweeper and the trimmer (which drops bbolt's mapped pages
// from RSS above 128 MiB, Linux only).
//
// # Ownership of bytes
//
// The record a transition sees points into bbolt's memory map or a pending
// record (never modified) and is valid only while the transition runs; the
// store encodes, and so copies, the Change before the read ends. Apply
// keeps nothing of the caller's: keys kept in the index are cloned, so the
// Store implements backends.BorrowedKeys. It does not implement
// backends.StableData: mapped bytes do not outlive Apply.
//
// # Errors
//
// Open refuses, naming the path: a file another process holds (after one
// second), one that is not bbolt or is corrupt, a foreign or newer-format
// file, log segments beside a file without sessions, a corrupt older
// segment, a newest segment with a bad record followed by good ones (only a
// torn tail, the last record cut short, is what a crash leaves; see
// damage.go), a data file of 0 bytes (it would otherwise start empty without
// a word) or shorter than its own pages (truncated; a fault while reading it
// becomes this error, not a crash). Open deletes a segment only after every
// segment was applied in full. At run time a failed read or log append returns an error wrapped
// with the path, and nothing unlogged is acknowledged; a Data larger than
// Config.MaxValueSize returns backends.ErrTooLarge. A failed checkpoint,
// deadline flush or sweep is logged and retried.
//
// # What it does not do
//
// No capacity limit (never ErrFull), no empty keys (bbolt cannot store them;
// the gateway never sends one), no shrinking of the file (use `bbolt compact`
// offline), no sharing of a file between processes, no replication.
package boltstore
