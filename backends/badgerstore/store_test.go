package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
)

// testConfig keeps badger small so that Open is quick and the package's -race
// run stays short.
func testConfig(dir string, now func() time.Time) Config {
	return Config{
		Path:             dir,
		ValueLogFileSize: 4 << 20,
		MemTableSize:     1 << 20,
		NumMemtables:     1,
		BlockCacheSize:   1 << 20,
		IndexCacheSize:   1 << 20,
		MaxValueSize:     1 << 20,
		Now:              now,
	}
}

func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var harness = backendtest.Harness{
	Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend {
		s, err := Open(testConfig(dir, now))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	},
	Durable:      true,
	MaxValueSize: 1 << 20,
}

func TestConformance(t *testing.T) { backendtest.Run(t, harness) }

func TestDifferential(t *testing.T) { backendtest.RunDifferential(t, harness) }

var ctx = context.Background()

func put(t *testing.T, s *Store, key string, r backends.Record) {
	t.Helper()
	if err := backends.Put(ctx, s, key, r); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func touch(t *testing.T, s *Store, key string) bool {
	t.Helper()
	found := false
	if err := s.Apply(ctx, key, func(cur *backends.Record) backends.Change {
		found = cur != nil
		return backends.Change{Action: backends.Keep}
	}); err != nil {
		t.Fatalf("Apply(%q): %v", key, err)
	}
	return found
}

// acquire is GetExclusive's transition: lock an unlocked record, cookie + 1.
func acquire(now time.Time, cookie *int32) backends.Transition {
	return func(cur *backends.Record) backends.Change {
		*cookie = 0
		if cur == nil || cur.Locked {
			return backends.Change{Action: backends.Keep}
		}
		r := *cur
		r.Locked, r.LockCookie, r.LockDate = true, cur.LockCookie+1, now
		*cookie = r.LockCookie
		return backends.Change{Action: backends.Store, Record: r}
	}
}

func TestReopenKeepsLocksAndCookies(t *testing.T) {
	dir := t.TempDir()
	clock := backendtest.NewClock(time.Now().Truncate(time.Second))
	s := openTest(t, testConfig(dir, clock.Now))
	put(t, s, "sess", backends.Record{Data: []byte("blob"), Timeout: 20, LockCookie: 1})
	var c1 int32
	if err := s.Apply(ctx, "sess", acquire(clock.Now(), &c1)); err != nil || c1 != 2 {
		t.Fatalf("acquire = %d, %v; want cookie 2", c1, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, testConfig(dir, clock.Now))
	// Still locked after the restart: a second acquire gets no cookie.
	var c2 int32
	if err := s.Apply(ctx, "sess", acquire(clock.Now(), &c2)); err != nil || c2 != 0 {
		t.Fatalf("acquire after reopen = %d, %v; want still locked", c2, err)
	}
	// The web server that holds cookie 2 can still Set and release with it.
	err := s.Apply(ctx, "sess", func(cur *backends.Record) backends.Change {
		if cur == nil || !cur.Locked || cur.LockCookie != c1 {
			t.Errorf("after reopen: %+v, want locked with cookie %d", cur, c1)
			return backends.Change{Action: backends.Keep}
		}
		r := *cur
		r.Data, r.Locked = []byte("new blob"), false
		return backends.Change{Action: backends.Store, Record: r}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A cookie is never handed out twice, across restarts too.
	s = openTest(t, testConfig(dir, clock.Now))
	var c3 int32
	if err := s.Apply(ctx, "sess", acquire(clock.Now(), &c3)); err != nil || c3 != 3 {
		t.Fatalf("acquire after second reopen = %d, %v; want 3", c3, err)
	}
	got, err := backends.Get(ctx, s, "sess")
	if err != nil || string(got.Data) != "new blob" {
		t.Fatalf("Get = %q, %v", got.Data, err)
	}
}

// TestCrashRestartNeverExpiresEarly reopens without Close's deadline snapshot
// (as after kill -9) and checks that a session whose deadline was slid by
// reads only, never written, is still alive at its true deadline.
func TestCrashRestartNeverExpiresEarly(t *testing.T) {
	dir := t.TempDir()
	clock := backendtest.NewClock(time.Now().Truncate(time.Second))
	s := openTest(t, testConfig(dir, clock.Now))
	put(t, s, "k", backends.Record{Data: []byte("v"), Timeout: 20, LockCookie: 1})
	// Read it every 30 s for 40 minutes: the deadline slides far past the
	// first horizon, so horizons must have been rewritten along the way.
	for range 80 {
		clock.Advance(30 * time.Second)
		if !touch(t, s, "k") {
			t.Fatal("session expired while being read")
		}
		if err := s.flushPending(); err != nil {
			t.Fatal(err)
		}
	}
	trueDeadline := clock.Now().Add(20 * time.Minute)
	crash(t, s)

	s = openTest(t, testConfig(dir, clock.Now))
	clock.Advance(trueDeadline.Sub(clock.Now()))
	if !touch(t, s, "k") {
		t.Fatal("after a crash the session expired before its true deadline")
	}
	// Reads slide it again; past now+Timeout+slack it must be gone.
	clock.Advance(20*time.Minute + slack(20*time.Minute) + time.Second)
	if touch(t, s, "k") {
		t.Fatal("session still visible past its deadline and slack")
	}
}

// TestReadsDoNotWrite checks that a read far from the horizon does not write.
func TestReadsDoNotWrite(t *testing.T) {
	clock := backendtest.NewClock(time.Now().Truncate(time.Second))
	s := openTest(t, testConfig(t.TempDir(), clock.Now))
	put(t, s, "k", backends.Record{Data: []byte("v"), Timeout: 20, LockCookie: 1})
	before := s.db.MaxVersion()
	for range 100 {
		if !touch(t, s, "k") {
			t.Fatal("gone")
		}
	}
	if err := s.flushPending(); err != nil {
		t.Fatal(err)
	}
	if after := s.db.MaxVersion(); after != before {
		t.Fatalf("100 reads committed %d writes", after-before)
	}
}

// crash closes the badger database without the Store's shutdown work (no
// final sweep, no deadline snapshot), which is what a restart after kill -9
// finds on disk.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.life.Lock()
	s.closed = true
	s.life.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.wr.close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredRemovedFromDisk(t *testing.T) {
	dir := t.TempDir()
	clock := backendtest.NewClock(time.Now().Truncate(time.Second))
	s := openTest(t, testConfig(dir, clock.Now))
	put(t, s, "short", backends.Record{Data: []byte("v"), Timeout: 1, LockCookie: 1})
	put(t, s, "long", backends.Record{Data: []byte("v"), Timeout: 30, LockCookie: 1})
	clock.Advance(2 * time.Minute)
	n, err := s.sweep()
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(recordKey("short"))
		return err
	})
	if !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("expired record still on disk: %v", err)
	}
	// An expired record is gone after a crash too, not resurrected.
	crash(t, s)
	s = openTest(t, testConfig(dir, clock.Now))
	if touch(t, s, "short") || !touch(t, s, "long") {
		t.Fatal("wrong records after reopen")
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	openTest(t, testConfig(dir, nil))
	start := time.Now()
	_, err := Open(testConfig(dir, nil))
	if err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not say locked and name %s", err, dir)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second Open took %s", d)
	}
}

func TestOpenRefusesBadDirectories(t *testing.T) {
	t.Run("garbage directory", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o600)
		wantOpenError(t, dir, "no badger MANIFEST")
	})
	t.Run("corrupt manifest", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "MANIFEST"), bytes.Repeat([]byte{0xAB}, 100), 0o600)
		wantOpenError(t, dir, "")
	})
	t.Run("path is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		wantOpenError(t, f, "not a directory")
	})
	t.Run("newer format version", func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, testConfig(dir, nil))
		if err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(formatKey, []byte{0, 0, 0, 2})
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		wantOpenError(t, dir, "format version 2 is newer")
	})
	t.Run("badger database of someone else", func(t *testing.T) {
		dir := t.TempDir()
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(1 << 20).WithValueThreshold(1024).WithValueLogFileSize(4 << 20))
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("foreign"), []byte("x")) })
		db.Close()
		wantOpenError(t, dir, "without an aspstated format-version key")
	})
	t.Run("corrupt record", func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, testConfig(dir, nil))
		s.db.Update(func(txn *badger.Txn) error { return txn.Set(recordKey("k"), []byte{9, 9, 9}) })
		err := s.Apply(ctx, "k", func(cur *backends.Record) backends.Change {
			t.Error("transition called on a corrupt record")
			return backends.Change{}
		})
		if err == nil || !strings.Contains(err.Error(), "corrupt record") || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Apply on a corrupt record = %v", err)
		}
	})
}

func wantOpenError(t *testing.T, dir, want string) {
	t.Helper()
	s, err := Open(testConfig(dir, nil))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open error %q: want it to name %s and say %q", err, dir, want)
	}
}

// TestRunTimeWriteFailure: when badger cannot write, Apply returns an error
// (never a silent success) and the store does not panic.
func TestRunTimeWriteFailure(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir(), nil))
	put(t, s, "k", backends.Record{Data: []byte("v"), Timeout: 20, LockCookie: 1})
	s.db.Close() // the database fails underneath the store
	err := backends.Put(ctx, s, "k", backends.Record{Data: []byte("w"), Timeout: 20})
	if err == nil || errors.Is(err, backends.ErrClosed) || !strings.Contains(err.Error(), s.path) {
		t.Fatalf("Put on a failed database = %v; want an error naming the path", err)
	}
	if err := s.Apply(ctx, "k", func(*backends.Record) backends.Change { return backends.Change{} }); err == nil {
		t.Fatal("read on a failed database succeeded")
	}
}

func TestTooLarge(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir(), nil))
	err := backends.Put(ctx, s, "k", backends.Record{Data: make([]byte, 1<<20+1), Timeout: 20})
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Put of MaxValueSize+1 = %v", err)
	}
}

func TestValidateNamesKey(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "badgerstore: path: must not be empty"},
		{Config{Path: "x", Sync: "sometimes"}, "badgerstore: sync:"},
		{Config{Path: "x", ValueLogFileSize: 1}, "value_log_file_size"},
		{Config{Path: "x", MemTableSize: 1}, "mem_table_size"},
		{Config{Path: "x", NumMemtables: -1}, "num_memtables"},
		{Config{Path: "x", MaxValueSize: 1 << 30}, "max_value_size"},
		{Config{Path: "x", GCInterval: time.Millisecond}, "gc_interval"},
		{Config{Path: "x", ValueThreshold: 1 << 30}, "value_threshold"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := (Config{Path: "x"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (Config{Path: "x", Sync: SyncInterval, SyncInterval: time.Second}).Validate(); err != nil {
		t.Errorf("sync interval: %v", err)
	}
	if err := (Config{Path: "x", Sync: SyncInterval, SyncInterval: time.Hour}).Validate(); err == nil || !strings.Contains(err.Error(), "sync_interval") {
		t.Errorf("sync_interval 1h: %v", err)
	}
	if err := (Config{Path: "x", Sync: SyncNone}).Validate(); err != nil {
		t.Errorf("sync none: %v", err)
	}
}

// The conformance and differential suites again with the record cache off
// and with a cache so small that it evicts on almost every insert.
func harnessWith(cacheBytes int64) backendtest.Harness {
	return harnessCfg(func(cfg *Config) { cfg.RecordCacheSize = cacheBytes })
}

func harnessCfg(set func(*Config)) backendtest.Harness {
	h := harness
	h.Open = func(t *testing.T, dir string, now func() time.Time) backends.Backend {
		cfg := testConfig(dir, now)
		set(&cfg)
		s, err := Open(cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	return h
}

// The sync policies other than the default, with a short interval so that
// the periodic sync runs during the suites.
func syncPolicy(p string) func(*Config) {
	return func(c *Config) { c.Sync, c.SyncInterval = p, 5*time.Millisecond }
}

func TestConformanceSyncAlways(t *testing.T) { backendtest.Run(t, harnessCfg(syncPolicy(SyncAlways))) }
func TestConformanceSyncInterval(t *testing.T) {
	backendtest.Run(t, harnessCfg(syncPolicy(SyncInterval)))
}
func TestConformanceSyncNone(t *testing.T) { backendtest.Run(t, harnessCfg(syncPolicy(SyncNone))) }
func TestDifferentialSyncInterval(t *testing.T) {
	backendtest.RunDifferential(t, harnessCfg(syncPolicy(SyncInterval)))
}

func TestConformanceNoCache(t *testing.T)   { backendtest.Run(t, harnessWith(-1)) }
func TestDifferentialNoCache(t *testing.T)  { backendtest.RunDifferential(t, harnessWith(-1)) }
func TestConformanceTinyCache(t *testing.T) { backendtest.Run(t, harnessWith(deadlineShards*256)) }
func TestDifferentialTinyCache(t *testing.T) {
	backendtest.RunDifferential(t, harnessWith(deadlineShards*256))
}

// TestRecordCacheBounded fills a store far past its cache and checks the
// cache's byte and entry counts stay within the budget, then that every
// record still reads back right (from the cache or from disk).
func TestRecordCacheBounded(t *testing.T) {
	cfg := testConfig(t.TempDir(), nil)
	cfg.RecordCacheSize = deadlineShards * 4096
	s := openTest(t, cfg)
	data := bytes.Repeat([]byte("x"), 500)
	for i := range 2000 {
		put(t, s, fmt.Sprint("k", i), backends.Record{Data: append(data, fmt.Sprint(i)...), Timeout: 20, LockCookie: 1})
	}
	for i := range 2000 {
		got, err := backends.Get(ctx, s, fmt.Sprint("k", i))
		if err != nil || string(got.Data) != string(data)+fmt.Sprint(i) {
			t.Fatalf("k%d: %v", i, err)
		}
	}
	for i := range s.dl.shards {
		sh := &s.dl.shards[i]
		sh.mu.Lock()
		bytes, n := 0, 0
		for _, e := range sh.m {
			if e.c != nil {
				bytes += len(e.c.val)
				n++
			}
		}
		if bytes != sh.bytes || n != sh.n || bytes > s.dl.budget || len(sh.q) > 2*n+1024 {
			t.Errorf("shard %d: cached %d bytes in %d entries (counted %d, %d), budget %d, queue %d", i, bytes, n, sh.bytes, sh.n, s.dl.budget, len(sh.q))
		}
		sh.mu.Unlock()
	}
}
