package durable

import (
	"os"

	"golang.org/x/sys/windows"
)

// SyncDir does nothing on Windows: directories cannot be flushed there, and
// the file system's journal keeps directory changes (see the package doc).
func SyncDir(dir string) error { return nil }

// Rename renames oldpath to newpath, replacing newpath, and returns once the
// rename is on disk (MOVEFILE_WRITE_THROUGH).
func Rename(oldpath, newpath string) error {
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// SyncFile flushes the named file through a handle of its own, opened for
// writing (FlushFileBuffers needs it) and sharing read, write and delete, so
// that it never stands in the way of the store deleting or renaming the file
// meanwhile.
func SyncFile(name string) error {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err} // errors.Is(err, fs.ErrNotExist) works
	}
	err = windows.FlushFileBuffers(h)
	if cerr := windows.CloseHandle(h); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "sync", Path: name, Err: err}
	}
	return nil
}
