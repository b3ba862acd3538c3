package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/backends"
)

// mountTmpfs mounts a tmpfs of size at a new directory for the test (root
// only; CI runs as root) and unmounts it at cleanup.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// issue 17: badger on a full disk died of SIGBUS in its value log and
// crash-looped. Now writes fail as backend failures before the disk is
// full, the process lives, reads keep working, a restart on the full disk
// is refused with a clear error, and once there is space again every
// acknowledged session is there: none answers 404 or a stale value.
func TestFullDiskFailsWritesKeepsReads(t *testing.T) {
	mnt := mountTmpfs(t, "40M")
	dir := mnt + "/store"
	cfg := testConfig(dir, nil)
	cfg.ValueLogFileSize = 2 << 20
	cfg.MemTableSize = 1 << 20
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := map[string][]byte{}
	var werr error
	for i := 0; i < 2000 && werr == nil; i++ {
		key := fmt.Sprintf("session-%05d", i%300)
		val := bytes.Repeat([]byte(fmt.Sprintf("%s write %d;", key, i)), 64<<10/24)
		werr = backends.Put(ctx, s, key, backends.Record{Data: val, Timeout: 20})
		if werr == nil {
			want[key] = val
		}
	}
	if werr == nil {
		t.Fatal("2000 writes of 64 KiB fit in a 40 MiB file system")
	}
	if !errors.Is(werr, errDiskFull) || errors.Is(werr, backends.ErrFull) {
		t.Fatalf("the write on a full disk failed with %v; want a disk-full backend failure", werr)
	}
	t.Logf("writes refused after %d sessions: %v", len(want), werr)
	for key, val := range want {
		rec, err := backends.Get(ctx, s, key)
		if err != nil || !bytes.Equal(rec.Data, val) {
			t.Fatalf("read of %s on a full disk: %v (same value: %v)", key, err, err == nil && bytes.Equal(rec.Data, val))
		}
	}
	if err := s.Close(); err != nil {
		t.Logf("Close on a full disk: %v", err)
	}
	// Fill what is left, as other programs would.
	os.WriteFile(mnt+"/filler", make([]byte, 64<<20), 0o600)
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open on a full disk = %v; want a clear disk-full error naming %s", err, dir)
	}
	// Space again: everything acknowledged is there.
	os.Remove(mnt + "/filler")
	if out, err := exec.Command("mount", "-o", "remount,size=200M", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	s = openTest(t, cfg)
	missing, stale := 0, 0
	for key, val := range want {
		rec, err := backends.Get(ctx, s, key)
		switch {
		case errors.Is(err, backends.ErrNotFound):
			missing++
		case err != nil:
			t.Fatalf("Get(%s): %v", key, err)
		case !bytes.Equal(rec.Data, val):
			stale++
		}
	}
	if missing+stale > 0 {
		t.Errorf("of %d acknowledged sessions, %d answered 404 and %d a stale value", len(want), missing, stale)
	}
	put(t, s, "after", backends.Record{Data: []byte("x"), Timeout: 20})
}
