package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/aspstate/aspstate/backends"
)

// fillStore writes n sessions twice each (the second value acknowledged
// last) to a store in dir, large enough for the value log, closes it and
// returns the final values.
func fillStore(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	s := openTest(t, testConfig(dir, nil))
	want := map[string][]byte{}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("session-%05d", i)
		for v := 1; v <= 2; v++ {
			val := bytes.Repeat([]byte(fmt.Sprintf("%s v%d;", key, v)), 40)
			put(t, s, key, backends.Record{Data: val, Timeout: 20})
			want[key] = val
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkNoSilentLoss opens dir (refusing to open is an acceptable answer to
// damage) and reads every session: each must come back with its last value
// or fail; no acknowledged session may answer 404 or a stale value. It
// returns how many reads failed.
func checkNoSilentLoss(t *testing.T, dir string, want map[string][]byte) int {
	t.Helper()
	s, err := Open(testConfig(dir, nil))
	if err != nil {
		t.Logf("Open refused the damaged store: %v", err)
		return len(want)
	}
	defer s.Close()
	missing, stale, failed := 0, 0, 0
	for key, val := range want {
		rec, err := backends.Get(ctx, s, key)
		switch {
		case errors.Is(err, backends.ErrNotFound):
			missing++
		case err != nil:
			failed++
		case !bytes.Equal(rec.Data, val):
			stale++
		}
	}
	if missing+stale > 0 {
		t.Errorf("of %d acknowledged sessions, %d answered 404 and %d a stale value (%d failed visibly)", len(want), missing, stale, failed)
	}
	return failed
}

func vlogFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no value log files")
	}
	return files
}

// issue 17: bytes flipped in the value log made badger return empty values
// without an error, which the store took for "no session" (64 of 1,000
// answered 404). Now each such read fails; nothing answers 404 or stale.
func TestFlippedValueLogBytesFailVisibly(t *testing.T) {
	dir := t.TempDir()
	want := fillStore(t, dir, 1000)
	for _, f := range vlogFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for at := 4096; at < len(b); at += len(b) / 16 {
			b[at] ^= 0xff
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if failed := checkNoSilentLoss(t, dir, want); failed == 0 {
		t.Error("no read failed: the flips were not detected (or missed every record)")
	}
}

// issue 17: after the newest value-log file is deleted (603 of 1,000 used to
// answer 404), reads of what it held fail, or the store refuses to open.
func TestDeletedValueLogFailsVisibly(t *testing.T) {
	dir := t.TempDir()
	want := fillStore(t, dir, 1000)
	files := vlogFiles(t, dir)
	if err := os.Remove(files[len(files)-1]); err != nil {
		t.Fatal(err)
	}
	checkNoSilentLoss(t, dir, want)
}

// Truncating the newest value-log file likewise fails visibly.
func TestTruncatedValueLogFailsVisibly(t *testing.T) {
	dir := t.TempDir()
	want := fillStore(t, dir, 1000)
	files := vlogFiles(t, dir)
	f := files[len(files)-1]
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	checkNoSilentLoss(t, dir, want)
}

// Records written by an older build (encoding 1, no checksum) still read.
func TestRecordEncodingV1StillReads(t *testing.T) {
	v := encodeRecord(&backends.Record{Data: []byte("abc"), Timeout: 20, LockCookie: 7}, 1234)
	v1 := append(append([]byte{recordEncodingV1}, v[1:headerLenV1]...), v[headerLen:]...)
	rec, h, err := decodeRecord(v1)
	if err != nil || string(rec.Data) != "abc" || rec.LockCookie != 7 || h != 1234 {
		t.Fatalf("decode v1: %+v %d %v", rec, h, err)
	}
	v[headerLen] ^= 1
	if _, _, err := decodeRecord(v); !errors.Is(err, errDamaged) {
		t.Fatalf("a flipped data byte decoded: %v", err)
	}
	if _, _, err := decodeRecord(nil); !errors.Is(err, errDamaged) {
		t.Fatalf("an empty value decoded: %v", err)
	}
}

// At run time, a record whose value comes back empty (what badger returns
// when it cannot read the value log) or damaged fails the request: the
// transition never sees "no session" for a key that exists.
func TestUnreadableValueIsAnErrorNot404(t *testing.T) {
	cfg := testConfig(t.TempDir(), nil)
	cfg.RecordCacheSize = -1
	s := openTest(t, cfg)
	put(t, s, "empty", backends.Record{Data: []byte("v"), Timeout: 20})
	put(t, s, "flipped", backends.Record{Data: []byte("value"), Timeout: 20})
	good := encodeRecord(&backends.Record{Data: []byte("value"), Timeout: 20}, 1<<40)
	good[len(good)-1] ^= 1
	if err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(recordKey("empty"), nil); err != nil {
			return err
		}
		return txn.Set(recordKey("flipped"), good)
	}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"empty", "flipped"} {
		err := s.Apply(ctx, key, func(cur *backends.Record) backends.Change {
			t.Errorf("%s: the transition ran (saw %v)", key, cur)
			return backends.Change{}
		})
		if err == nil || errors.Is(err, backends.ErrNotFound) {
			t.Errorf("%s: Apply = %v, want a failure", key, err)
		}
	}
}
