//go:build !windows

package durable

import "os"

// SyncDir makes the entries of directory dir (creations, renames, deletions
// inside it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Rename renames oldpath to newpath, replacing newpath. It is durable once
// the caller has called SyncDir on the directory.
func Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// SyncFile flushes the named file's data through a descriptor of its own (an
// fsync on any descriptor flushes the file's pages, however they were
// written).
func SyncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
