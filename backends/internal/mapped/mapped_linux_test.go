//go:build linux

package mapped

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPageOutReclaimsAndKeepsData maps a file, dirties every page through
// the map, and pages the directory out: the resident file memory drops, and
// the bytes read back (from the page cache or disk) are the ones written.
func TestPageOutReclaimsAndKeepsData(t *testing.T) {
	const size = 16 << 20
	// Not t.TempDir(): /tmp may be a tmpfs, whose pages cannot be paged out
	// without swap. The package directory is on the checkout's disk.
	dir, err := os.MkdirTemp(".", "pageout-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	mapFile := func(path string) []byte {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Munmap(m) })
		for i := range m {
			m[i] = byte(i*7 + i>>12)
		}
		return m
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	inside := mapFile(filepath.Join(dir, "data", "000001.vlog"))
	before, ok := Resident()
	if !ok {
		t.Fatal("Resident: /proc/self/statm unreadable")
	}
	if before < size {
		t.Fatalf("Resident = %d after dirtying a %d-byte mapping", before, size)
	}
	n, err := PageOut(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatalf("PageOut: %v", err)
	}
	if n != 1 {
		t.Errorf("PageOut advised %d mappings, want 1", n)
	}
	after, _ := Resident()
	if before-after < size/2 {
		t.Errorf("Resident went from %d to %d: the mapping was not reclaimed", before, after)
	}
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	if !bytes.Equal(inside, want) {
		t.Error("bytes written through the mapping changed after PageOut")
	}
}

// TestPageOutLeavesOtherFilesAlone: a directory with no mapped files gets
// no advice.
func TestPageOutLeavesOtherFilesAlone(t *testing.T) {
	n, err := PageOut(t.TempDir())
	if err != nil || n != 0 {
		t.Errorf("PageOut of an unmapped directory = %d, %v; want 0, nil", n, err)
	}
}
