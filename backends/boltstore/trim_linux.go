//go:build linux

package boltstore

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// dropMapped drops the memory map's resident pages from the process: the
// kernel keeps them in the page cache, and the next access maps them again
// (a minor fault). It runs inside a read transaction, which holds bbolt's
// mmap lock: bbolt cannot remap (and so cannot move or unmap the region)
// until the transaction ends. The map is read-only and bbolt writes through
// the file, never through the map, so MADV_DONTNEED on this shared file
// mapping discards nothing; readers that hold slices into it concurrently
// see the same bytes after the fault.
func dropMapped(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		size := int(tx.Size())
		if size == 0 {
			return nil
		}
		// The map's address, stable while tx is open; passed to the
		// kernel as a number, never dereferenced here.
		start := tx.DB().Info().Data
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
			return errno
		}
		return nil
	})
}
