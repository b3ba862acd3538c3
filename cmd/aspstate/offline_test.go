package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
)

var quiet = slog.New(slog.DiscardHandler)

// offlineSessions are the records of the offline round trip: locked and
// not, uninitialized, various cookies, lock dates and lifetimes.
func offlineSessions() map[string]exported {
	lockDate := time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC)
	want := map[string]exported{}
	for i := range 300 {
		rec := backends.Record{Data: []byte(fmt.Sprintf("blob %d %s", i, strings.Repeat("x", i))), Timeout: int32(20 + i%60),
			LockCookie: int32(i * 7)}
		switch i % 3 {
		case 0:
			rec.Locked, rec.LockDate = true, lockDate.Add(time.Duration(i)*time.Second)
		case 1:
			rec.Uninitialized = true
		}
		if i%5 == 0 {
			rec.LockDate = lockDate // a past lock, released
		}
		// Less than the timeout: a lifetime reset to the timeout shows.
		want[fmt.Sprintf("/LM/W3SVC/1/ROOT/app(h)/s%03d", i)] = exported{rec, time.Duration(1+i%19)*time.Minute + time.Duration(i)*time.Millisecond}
	}
	return want
}

// export --bbolt → import --badger → export --badger → import --bbolt →
// export --bbolt keeps every field and the remaining lifetime.
func TestOfflineRoundTripBoltBadgerBolt(t *testing.T) {
	dir := t.TempDir()
	bolt1, badger1, bolt2 := filepath.Join(dir, "one.db"), filepath.Join(dir, "badger"), filepath.Join(dir, "two.db")
	want := offlineSessions()
	st, err := boltstore.Open(boltstore.Config{Path: bolt1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for k, e := range want {
		if ok, err := st.Install(t.Context(), k, e.rec, now.Add(e.remaining), false); !ok || err != nil {
			t.Fatalf("install %s: %v %v", k, ok, err)
		}
	}
	// One that expires before the export: not carried.
	st.Install(t.Context(), "short", backends.Record{Data: []byte("s"), Timeout: 1}, now.Add(50*time.Millisecond), false)
	st.Close()
	time.Sleep(100 * time.Millisecond)

	step := func(args ...string) runResult {
		t.Helper()
		r := runTool(t, "", args...)
		if r.code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
		}
		return r
	}
	e1, e2 := filepath.Join(dir, "e1"), filepath.Join(dir, "e2")
	step("export", "--bbolt", bolt1, "--out", e1)
	if r := step("import", "--badger", badger1, "--in", e1); !strings.Contains(r.stdout, "imported 300, skipped 0 (present already; --replace overwrites), expired 0") {
		t.Fatalf("import into badger: %q", r.stdout)
	}
	step("export", "--badger", badger1, "--out", e2)
	step("import", "--bbolt", bolt2, "--in", e2)
	r := step("export", "--bbolt", bolt2)
	sameSessions(t, "bbolt → badger → bbolt", readExport(t, []byte(r.stdout)), want, 10*time.Second)

	// Importing again keeps what is there, unless --replace.
	if r := step("import", "--bbolt", bolt2, "--in", e2); !strings.Contains(r.stdout, "imported 0, skipped 300") {
		t.Fatalf("second import: %q", r.stdout)
	}
	if r := step("import", "--replace", "--badger", badger1, "--in", e1); !strings.Contains(r.stdout, "imported 300, skipped 0") {
		t.Fatalf("import --replace: %q", r.stdout)
	}
	// A damaged stream stops with exit 1 and says how far it got.
	data, _ := os.ReadFile(e1)
	if r := runTool(t, string(data[:len(data)/2]), "import", "--bbolt", filepath.Join(dir, "three.db")); r.code != exitFail ||
		!strings.Contains(r.stderr, "after") {
		t.Fatalf("damaged stream: exit %d, %q", r.code, r.stderr)
	}
}

// A store held open (by a running server, here by this process) gives a
// clear error at once instead of waiting for it to close.
func TestOfflineStoreHeldOpen(t *testing.T) {
	dir := t.TempDir()
	bpath, gpath := filepath.Join(dir, "held.db"), filepath.Join(dir, "held-badger")
	bs, err := boltstore.Open(boltstore.Config{Path: bpath, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	gs, err := badgerstore.Open(badgerstore.Config{Path: gpath, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	for _, args := range [][]string{
		{"export", "--bbolt", bpath},
		{"import", "--bbolt", bpath},
		{"export", "--badger", gpath},
		{"import", "--badger", gpath},
	} {
		start := time.Now()
		r := runTool(t, "ASPSREC\x01", args...)
		if r.code != exitFail || !strings.Contains(r.stderr, "locked by another process") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%q: took %v", args, d)
		}
	}
	// Exporting what does not exist creates nothing.
	for _, args := range [][]string{{"export", "--bbolt", filepath.Join(dir, "none.db")}, {"export", "--badger", filepath.Join(dir, "none")}} {
		if r := runTool(t, "", args...); r.code != exitFail {
			t.Errorf("%q: exit %d", args, r.code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("export --bbolt created a data file")
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
		t.Error("export --badger created a data directory")
	}
}
