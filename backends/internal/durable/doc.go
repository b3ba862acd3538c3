// Package durable holds the few file-system calls whose durability differs
// between platforms, for the durable stores (boltstore, badgerstore): making
// a directory entry durable, a durable rename, and flushing a file by name.
//
// # What it does
//
// On Unix, SyncDir fsyncs the directory, Rename is os.Rename (the caller
// syncs the directory after it), and SyncFile opens the file read-write and
// fsyncs it.
//
// On Windows a directory cannot be flushed: FlushFileBuffers on a directory
// handle fails with "Access denied" (which is why bbolt did not open there).
// What replaces the directory sync is the file system's own metadata journal.
// NTFS and ReFS log every change to a directory (create, rename, delete) in
// their journal, in the order the changes were made, and commit that journal
// when a file on the volume is flushed (FlushFileBuffers, which is what
// (*os.File).Sync calls). So on Windows:
//
//   - SyncDir does nothing. A file created and then flushed is durable with
//     its name (the flush commits the journal record of its creation), so
//     the stores' "a synced write survives a power loss" holds unchanged.
//   - Rename uses MoveFileEx with MOVEFILE_WRITE_THROUGH, which returns only
//     once the rename is on disk: a snapshot or segment renamed into place is
//     durable when Rename returns, as after rename+fsync(dir) on Unix.
//   - Deletions are not forced to disk one by one, but the journal keeps them
//     in order, so after a crash the files left are still always the newest
//     ones (boltstore's recovery invariant); a deletion lost by a crash is
//     redone at the next Open, as on Unix.
//   - SyncFile opens the file with FILE_SHARE_DELETE as well as read and
//     write sharing, so a flush never makes a concurrent delete or rename of
//     the same file by badger fail.
//
// These promises need a journaling file system (NTFS or ReFS, the Windows
// defaults). FAT32 and exFAT journal nothing: do not keep a store there.
// This is the same choice badger (dir_windows.go), RocksDB and PostgreSQL
// make on Windows, where a directory sync is a no-op.
//
// # Concurrency
//
// The functions keep no state; they may be called on different files at
// once, as the file system allows.
//
// # Ownership of bytes
//
// None taken or returned: paths and open files only.
//
// # Errors
//
// The operating system's errors, wrapped in *os.PathError or *os.LinkError as
// the os package does, naming the file.
//
// # What it does not do
//
// No retries on EINTR (os.File.Sync already retries), no flushing of whole
// volumes (that needs administrator rights on Windows).
package durable
