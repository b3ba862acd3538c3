package boltstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/locking"
)

var ctx = context.Background()

// testEnv is a store on a real file with a test clock.
type testEnv struct {
	t     *testing.T
	path  string
	clock *backendtest.Clock
	cfg   Config
}

func newTestEnv(t *testing.T, flush, sweep time.Duration) *testEnv {
	clock := backendtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "sessions.db")
	return &testEnv{t: t, path: path, clock: clock, cfg: Config{
		Path: path, FlushInterval: flush, SweepInterval: sweep,
		MaxValueSize: testMaxValue, Now: clock.Now, Logger: testLogger(t),
	}}
}

// open opens cfg with Path replaced by path and closes it at cleanup.
func (e *testEnv) open(path string) *Store {
	e.t.Helper()
	cfg := e.cfg
	cfg.Path = path
	s, err := Open(cfg)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

// do runs one protocol request through the lock rules.
func do(t *testing.T, s *Store, key string, req locking.Request, now time.Time) locking.Result {
	t.Helper()
	var res locking.Result
	err := s.Apply(ctx, key, func(cur *backends.Record) backends.Change {
		r, ch := locking.Decide(cur, &req, now)
		r.Body = bytes.Clone(r.Body)
		res = r
		return ch
	})
	if err != nil {
		t.Fatalf("%v %q: %v", req.Op, key, err)
	}
	return res
}

// crashImage returns a copy of s's file and log as a kill -9 at this instant
// would leave them: the last committed transaction, the log segments not yet
// checkpointed, no clean-close flush, no clean flag. The caller must not
// write concurrently; holding ckptMu keeps the checkpointer still, and
// bbolt's own copy inside a read transaction is consistent.
func crashImage(t *testing.T, s *Store) string {
	t.Helper()
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	dst := filepath.Join(t.TempDir(), "crashed.db")
	if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(dst, 0o600) }); err != nil {
		t.Fatal(err)
	}
	copySegments(t, s.cfg.Path, dst)
	return dst
}

// copySegments copies the log segments of the data file src next to dst.
func copySegments(t *testing.T, src, dst string) {
	t.Helper()
	seqs, err := listSegments(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		b, err := os.ReadFile(segmentPath(src, seq))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(segmentPath(dst, seq), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpoint moves everything logged into bbolt now.
func checkpoint(t *testing.T, s *Store) {
	t.Helper()
	if err := s.checkpointNow(); err != nil {
		t.Fatal(err)
	}
}

// lastTxID is the id of the last committed write transaction.
func lastTxID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReopenKeepsLockAndNeverRepeatsACookie(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	do(t, s, "k", locking.Request{Op: locking.OpSet, Timeout: locking.N(20), Body: []byte("blob")}, e.clock.Now())
	got := do(t, s, "k", locking.Request{Op: locking.OpGetExclusive}, e.clock.Now())
	if got.Status != 200 || got.LockCookie != 2 {
		t.Fatalf("acquire = %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	path := e.path
	for round := range 2 { // a clean reopen, then a crash image of the reopened store
		s = e.open(path)
		held := int32(2 + round)
		if got := do(t, s, "k", locking.Request{Op: locking.OpGet}, e.clock.Now()); got.Status != 423 || got.LockCookie != held {
			t.Fatalf("round %d: get of locked item = %+v, want 423 with cookie %d", round, got, held)
		}
		// The web server that holds the cookie can still write with it...
		if got := do(t, s, "k", locking.Request{Op: locking.OpSet, LockCookie: locking.N(held), Body: []byte("v2")}, e.clock.Now()); got.Status != 200 {
			t.Fatalf("round %d: set with the held cookie = %+v", round, got)
		}
		// ...and the next acquire never hands out a cookie seen before.
		want := held + 1
		if got := do(t, s, "k", locking.Request{Op: locking.OpGetExclusive}, e.clock.Now()); got.LockCookie != want || string(got.Body) != "v2" {
			t.Fatalf("round %d: acquire after reopen = %+v, want cookie %d", round, got, want)
		}
		if round == 0 {
			path = crashImage(t, s)
		}
	}
	// A remove with the held cookie works on the crash image too.
	if got := do(t, s, "k", locking.Request{Op: locking.OpRemove, LockCookie: locking.N(4)}, e.clock.Now()); got.Status != 200 {
		t.Fatalf("remove with held cookie = %+v", got)
	}
}

func TestReadWithinLeaseWritesNothing(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	if err := backends.Put(ctx, s, "k", backends.Record{Data: []byte("v"), Timeout: 20}); err != nil {
		t.Fatal(err)
	}
	checkpoint(t, s) // reads must not write; the write above may
	// The file's lease started at Open; the first read after it flushes and
	// renews it, for 12 flush intervals.
	e.clock.Advance(time.Second)
	before := lastTxID(t, s)
	if _, err := backends.Get(ctx, s, "k"); err != nil {
		t.Fatal(err)
	}
	if lastTxID(t, s) == before {
		t.Fatal("a read after the lease ran out did not flush")
	}
	before = lastTxID(t, s)
	for range 100 {
		e.clock.Advance(time.Second)
		if _, err := backends.Get(ctx, s, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if after := lastTxID(t, s); after != before {
		t.Fatalf("100 reads within the lease committed %d write transactions", after-before)
	}
}

func TestCrashNeverExpiresASessionEarly(t *testing.T) {
	// One-minute flush interval: no background flush runs during the test
	// (its ticker is on real time), so what is on disk is exactly what the
	// test arranges. The lease is 12 minutes of the test clock.
	e := newTestEnv(t, time.Minute, time.Hour)
	s := e.open(e.path)
	t0 := e.clock.Now()
	for _, k := range []string{"read", "dead"} {
		timeout := int32(20)
		if k == "dead" {
			timeout = 1
		}
		if err := backends.Put(ctx, s, k, backends.Record{Data: []byte(k), Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(14 * time.Minute)
	if _, err := backends.Get(ctx, s, "read"); err != nil { // slides to t0+34m; the lease ran out, so it flushes
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute)
	before := lastTxID(t, s)
	if _, err := backends.Get(ctx, s, "read"); err != nil { // slides to t0+40m, within the lease: not written
		t.Fatal(err)
	}
	if lastTxID(t, s) != before {
		t.Fatal("a read within the lease wrote to disk")
	}
	img := crashImage(t, s) // persisted deadline t0+34m, six minutes short

	e.clock.Advance(time.Second)
	c := e.open(img)
	if _, err := backends.Get(ctx, c, "dead"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("a record expired before the crash came back: %v", err)
	}
	// "persisted deadline + flush interval" would say t0+35m here.
	e.clock.Advance(t0.Add(40*time.Minute - time.Millisecond).Sub(e.clock.Now()))
	if _, err := backends.Get(ctx, c, "read"); err != nil {
		t.Fatalf("after a crash, a session read at +20m expired before +40m: %v", err)
	}
	// Recovered deadlines are marked for the next flush, so a second crash
	// recovers the same bound.
	e.clock.Advance(time.Second)
	if _, err := backends.Get(ctx, c, "read"); err != nil {
		t.Fatal(err)
	}
}

func TestCleanCloseRestoresExactDeadlines(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	for _, k := range []string{"a", "b"} {
		if err := backends.Put(ctx, s, k, backends.Record{Data: []byte(k), Timeout: 20}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(10 * time.Minute)
	if _, err := backends.Get(ctx, s, "a"); err != nil { // a: +30m, b: +20m
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = e.open(e.path)
	e.clock.Advance(10*time.Minute - time.Millisecond)
	if s.Len() != 2 {
		t.Fatalf("Len = %d 1 ms before b's deadline, want 2", s.Len())
	}
	e.clock.Advance(2 * time.Millisecond)
	if s.Len() != 1 {
		t.Fatalf("Len = %d 1 ms after b's deadline, want 1 (a clean close keeps deadlines exact)", s.Len())
	}
	e.clock.Advance(10*time.Minute - 2*time.Millisecond)
	if _, err := backends.Get(ctx, s, "a"); err != nil {
		t.Fatalf("a gone before its slid deadline: %v", err)
	}
}
