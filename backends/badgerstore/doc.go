// Package badgerstore is the durable backend for high write rates: session
// records in a badger database (LSM tree plus value log) in one directory,
// with lock state and cookies persisted and deadlines kept in memory. The
// reasoning behind the design (record encoding, the deadline horizon, the
// record cache, why "interval" is the default sync policy) is written out in
// docs/design/badgerstore.md.
//
// # What it does
//
// Store implements backends.Backend. Open creates the directory if needed and
// rebuilds the in-memory deadline index from the keys alone, without reading
// values; badger's panics at Open become errors. Defaults (config.go) keep
// badger small (3 memtables of 16 MiB, 32 MiB block cache, 16 MiB index
// cache, where badger's own reserve about 600 MiB); session blobs go to the
// value log and the LSM tree holds keys and pointers. Keys are 's' + session
// key; 'm' + "format" holds the format version.
//
// Apply reads the record from the record cache (RecordCacheSize, 32 MiB by
// default) or badger, runs the transition, and writes only for Store, Delete
// or a horizon rewrite, through a group committer that merges concurrent
// writes into one badger transaction. Sync policy: "interval" (default)
// returns once the write is in badger's mapped WAL and value log, so kill -9
// loses nothing, and fsyncs every SyncInterval (1 s), so a power loss loses
// at most about that much; "always" fsyncs before Apply returns; "none"
// leaves write-back to the kernel. On Windows (NTFS or ReFS) the same holds,
// with the file system's journal in place of directory syncs and a
// write-through rename for the deadline snapshot (package
// backends/internal/durable).
//
// Expiry: the deadline lives in memory, so a read costs no disk write. Each
// record on disk carries a horizon, an upper bound of its deadline (deadline
// plus 1 to 5 minutes of slack), also set as badger's TTL, and rewritten in
// the background as reads approach it. After a crash a session never expires
// earlier than on the memory backend and may live up to the slack longer; a
// clean Close saves the exact deadlines in "aspstated-deadlines" beside the
// database. An expired record is invisible at once and swept within about
// 20 s.
//
// # Concurrency
//
// All methods are safe for concurrent use. Apply holds the key's lock
// (locking.KeyLocks) from the read to the write and never two key locks.
// Goroutines owned by the Store and stopped in Close, which waits for Apply
// calls in flight: the group committer, maintenance (horizon rewrites every
// second, sweeps every 20 s), value-log GC (GCInterval, or at once under
// large writes: gc.go), the syncer (Sync "interval") and the trimmer, which
// pages out badger's mapped files above
// 128 MiB resident (package mapped). Background writes re-read each key under
// its key lock, and badger's conflict detection aborts a batch that an Apply
// overtook, so they never overwrite a newer record.
//
// # Ownership of bytes
//
// The record a transition sees points into badger's memory or the record
// cache and is valid only while the transition runs; Apply encodes the new
// record into a fresh buffer and keeps nothing of the caller's. The Store
// implements neither backends.StableData nor backends.BorrowedKeys, so the
// gateway copies bodies and allocates key strings for it.
//
// # Errors
//
// Open refuses, naming the path: a directory that is not a badger database,
// one another process has open, damaged files, a newer format, and a store
// where records read back at start (a sample of up to 1,000) are unreadable
// (a value-log file deleted, cut short or damaged; damage.go), or whose
// MANIFEST changed since the last clean Close (cut short or damaged: badger
// would silently drop the tables it no longer lists; closemark.go). At run time
// disk and I/O errors or a corrupt record make Apply return an error naming
// the path, never a nil record or a silent success: each record carries a
// CRC-32C, badger verifies its value-log checksums, and an empty value for
// a key that exists (what badger returns, with only a log line, when it
// cannot read the value log) is an error, never "no session". Below a
// reserve of free disk space (two value-log files, the memtables and 16 MiB;
// diskspace.go) writes fail as backend failures instead of letting badger
// die of SIGBUS in a memory-mapped file, reads go on, and Open refuses to
// start, saying the disk is full. A Data larger than
// MaxValueSize returns backends.ErrTooLarge. A failed horizon rewrite still
// serves the read and is retried. Badger's warnings and errors go to the
// Logger, its info and debug lines to Debug.
//
// # What it does not do
//
// No lock rules (package locking), no capacity limit (never ErrFull: the disk
// is the limit), no sharing of a directory between processes, no compaction
// on Close, no encryption, and no persistence of read slides except through
// the horizon.
package badgerstore
