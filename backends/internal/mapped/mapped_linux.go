//go:build linux

package mapped

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Resident returns the process's resident file-backed and shared memory in
// bytes (the third field of /proc/self/statm). ok is false if it cannot be read.
func Resident() (n int64, ok bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// PageOut asks the kernel to reclaim the resident pages of every mapping of
// a file under dir, and returns how many mappings it advised. See the
// package documentation for why this is safe.
func PageOut(dir string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	prefix := abs + string(filepath.Separator)
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], prefix) {
			continue
		}
		lo, hi, found := strings.Cut(fields[0], "-")
		if !found {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	// Read everything first: advising while reading could change the file.
	for _, s := range spans {
		// The address is handed to the kernel as a number, never used here.
		// EINVAL/ENOMEM: the mapping went away meanwhile; nothing to do.
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_PAGEOUT)
		if errno != 0 && errno != unix.EINVAL && errno != unix.ENOMEM {
			return 0, errno
		}
	}
	return len(spans), nil
}
