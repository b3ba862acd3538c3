// Package badgerstore is the durable backend for high write rates: session
// records in a badger (LSM tree plus value log) database in one directory,
// with lock state and cookies persisted and deadlines kept in memory.
//
// # What it does
//
// Store implements backends.Backend. Open takes a Config (Path required; Sync
// "always" or "none"; badger's value-log and memory sizes; GC interval;
// MaxValueSize; clock; logger), creates the directory if missing, refuses a
// directory that is not a badger database, one that another process has open
// ("locked by another process"), damaged files and a newer format version,
// each with an error naming the path, and never panics (badger's panics at
// Open become errors). It then rebuilds the in-memory deadline index from the
// keys alone, without reading values.
//
// The defaults (see config.go) keep badger small: 3 memtables of 16 MiB, a
// 32 MiB block cache, a 16 MiB index cache, 64 MiB value-log files and a
// 256-byte value threshold, so session blobs live in the value log and the
// LSM tree holds only keys and pointers. Badger's own defaults reserve about
// 600 MiB.
//
// # Key layout and encoding
//
//	's' + session key   -> record (the key is opaque bytes, never parsed)
//	'm' + "format"      -> format version, big-endian uint32 (currently 1)
//
// A record is a 30-byte header and the Data (encoding.go): an encoding
// version byte, flags (Uninitialized, Locked), Timeout, LockCookie, LockDate
// (seconds and nanoseconds), and the horizon described under Expiry. Beside
// the database, a clean Close leaves a file "aspstated-deadlines" with the
// exact deadlines (CRC-32C checked); Open reads and deletes it.
//
// # Concurrency contract
//
// All methods are safe for concurrent use. Apply holds the key's lock
// (locking.KeyLocks) from the read to the write: it reads in a badger View
// transaction, calls the transition inside it, and writes, in its own
// transaction, only for Store, Delete or a horizon rewrite. No Apply ever
// holds two key locks. Two goroutines belong to the Store and stop in Close:
// maintenance (horizon rewrites every second, expiry sweep every 20 s) and
// badger's value-log GC (every GCInterval). The background writes read each
// key under its key lock and commit in batches; badger's conflict detection
// aborts a batch if an Apply wrote one of its keys in between, so background
// work never overwrites a newer record. Close waits for Apply calls in
// flight; later calls get backends.ErrClosed.
//
// # Durability and sync policy
//
// Sync "always" (the default) makes every write wait for its fsync;
// concurrent writers share one (badger's group commit), so no acknowledged
// write or lock is lost to a crash or a power loss. Sync "none" leaves
// flushing to the OS: badger writes through mmap, so a process crash (kill -9)
// still loses nothing, but a power loss may lose the last writes.
//
// # Expiry
//
// The deadline the protocol sees (now + Timeout, slid by every Apply that
// finds the record, a record visible while now <= deadline) lives only in
// memory, so a read costs no disk write. On disk each record carries a
// horizon, an upper bound of its deadline: deadline + slack, where slack is
// the Timeout clamped to [1 min, 5 min], and badger's native TTL is set to the
// horizon (on the real clock) so badger drops it if nothing else does. When
// reads bring the deadline within slack/2 of the horizon, the key is queued
// and the maintenance goroutine rewrites its horizon in a batch; if the
// deadline would pass the horizon before that happened, the Apply rewrites it
// itself. So a session read continuously costs about one write per slack/2,
// and the horizon on disk is never earlier than the true deadline.
//
// After a clean Close, Open restores the exact deadlines from the snapshot
// file. After a crash, Open takes badger's TTL (the horizon) as the deadline
// and the record's own horizon corrects it on first access: a session never
// expires earlier than on the memory backend, and may live up to slack
// longer. An expired record is invisible at once (the transition sees nil);
// the sweeper deletes it from disk within about 20 s, and Close deletes the
// rest, so it does not come back after a restart.
//
// Len counts the deadline index: every record on disk, including expired ones
// not yet swept. It is approximate.
//
// # Who owns returned byte slices
//
// The record a transition sees, and its Data, point into badger's memory and
// are valid only while the transition runs. The Change it returns may alias
// them or the caller's buffers: Apply encodes the new record into a fresh
// buffer before the read transaction ends and keeps nothing of the caller's.
//
// # Errors
//
// Failures at run time (disk full, I/O errors, a corrupt record) make Apply
// return an error naming the path, never a nil record or a silent success;
// the store keeps serving what it can. A read whose horizon rewrite fails is
// still served, and the rewrite is retried in the background. A Store whose
// Data exceeds MaxValueSize returns backends.ErrTooLarge. Badger's warnings
// and errors go to the Logger; its info and debug lines go to Debug.
//
// # What it deliberately does not do
//
// No lock rules (package locking) and no capacity limit (ErrFull): the disk is
// the limit. It does not share a directory between processes, does not
// compact the LSM tree on Close, does not encrypt, and does not persist read
// slides except through the horizon.
package badgerstore
