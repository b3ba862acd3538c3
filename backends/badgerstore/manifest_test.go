package badgerstore

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifestCuts returns offsets at which to cut a badger MANIFEST: every
// change-set boundary after the first (badger accepts those without a word)
// and a few inside change sets (badger drops the torn tail without a word).
func manifestCuts(t *testing.T, b []byte) []int64 {
	t.Helper()
	var bounds []int64
	for off := 8; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		off += 8 + n
		bounds = append(bounds, int64(off))
	}
	if len(bounds) < 2 {
		t.Fatalf("MANIFEST of %d bytes holds %d change sets; want at least 2", len(b), len(bounds))
	}
	var cuts []int64
	for _, o := range bounds[:len(bounds)-1] {
		cuts = append(cuts, o, o+3)
	}
	return append(cuts, int64(len(b))-1, 8)
}

// issue 17: a MANIFEST cut short made badger drop (and delete) the tables it
// no longer listed, and 922 of 1,000 acknowledged sessions answered 404
// with no log line. After a clean Close, the store now refuses to start,
// naming the MANIFEST, before badger touches anything.
func TestTruncatedManifestRefusesToStart(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	want := fillStore(t, src, 1000)
	manifest, err := os.ReadFile(filepath.Join(src, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range manifestCuts(t, manifest) {
		dir := filepath.Join(base, fmt.Sprint("cut", cut))
		copyDir(t, src, dir)
		if err := os.Truncate(filepath.Join(dir, "MANIFEST"), cut); err != nil {
			t.Fatal(err)
		}
		s, err := Open(testConfig(dir, nil))
		if err == nil {
			s.Close()
			t.Errorf("cut at %d of %d: Open accepted the truncated MANIFEST", cut, len(manifest))
			checkNoSilentLoss(t, dir, want)
			continue
		}
		if cut == 8 {
			t.Logf("cut at 8: %v", err)
		}
		if !strings.Contains(err.Error(), "MANIFEST") {
			t.Errorf("cut at %d: the refusal does not name the MANIFEST: %v", cut, err)
		}
		// badger has not run: the tables are all still there, so restoring the
		// MANIFEST restores the store.
		if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		if failed := checkNoSilentLoss(t, dir, want); failed > 0 {
			t.Errorf("cut at %d: after restoring the MANIFEST, %d reads failed", cut, failed)
		}
	}
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
