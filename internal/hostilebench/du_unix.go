//go:build unix

package main

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// diskUse returns the bytes allocated to the regular files under dir
// (badger's value-log files are sparse, so their length overstates it).
func diskUse(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
