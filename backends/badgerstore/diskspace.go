package badgerstore

import (
	"errors"
	"fmt"
)

// A full disk (issue 17). Badger writes its value log, memtables and tables
// through memory-mapped files that it extends sparsely; when the file system
// cannot back a page, the process dies of SIGBUS, and again at each restart.
// So the store keeps a reserve: a group of writes is committed only while
// the directory's file system has more than the reserve free (checked with
// statfs before every group commit), and Open refuses to start below it.
// Refused writes fail as backend failures (the web server's request fails,
// nothing is acknowledged); reads keep working; writes resume by themselves
// once space is freed. The reserve is what badger may still write on its
// own: a value-log file (mapped at twice its size), the memtables being
// flushed, and a margin for compaction.

// errDiskFull is the error of a write refused for lack of disk space.
var errDiskFull = errors.New("disk full")

// diskReserve is the free space below which writes are refused.
func diskReserve(cfg *Config) int64 {
	return 2*cfg.ValueLogFileSize + int64(cfg.NumMemtables+2)*cfg.MemTableSize + 16<<20
}

// checkSpace returns an error when writing need more bytes would leave less
// than the reserve free at path. A file system whose free space cannot be
// read is not checked.
func checkSpace(path string, reserve, need int64) error {
	free, ok := freeBytes(path)
	if !ok || free-need >= reserve {
		return nil
	}
	return fmt.Errorf("%w: %d MiB free at %s, and the store keeps %d MiB in reserve so that badger cannot crash on a full disk; writes fail until space is freed (reads still work)",
		errDiskFull, free>>20, path, reserve>>20)
}
