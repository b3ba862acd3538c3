package boltstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// TestInstallSurvivesCrash: an acknowledged Install is in the log, so a
// kill -9 before any checkpoint keeps the record, its lock state and a
// deadline no earlier than the installed one (replay may raise it to the
// lease plus the timeout, never lower it); after a checkpoint, a crash keeps
// it too.
func TestInstallSurvivesCrash(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	if err := backends.Put(ctx, s, "a", rec("old a")); err != nil {
		t.Fatal(err)
	}
	checkpoint(t, s)
	release := holdCheckpoints(t, s) // the installs stay in the log
	want := backends.Record{Data: []byte("installed"), Timeout: 20, Locked: true, LockCookie: 7,
		LockDate: e.clock.Now().Add(-123456789)}
	dl := e.clock.Now().Add(3 * time.Minute)
	for _, c := range []struct {
		key     string
		replace bool
	}{{"i", false}, {"a", true}} {
		stored, err := s.Install(ctx, c.key, want, dl, c.replace)
		if err != nil || !stored {
			t.Fatalf("Install(%q) = %v, %v", c.key, stored, err)
		}
	}
	release()
	check := func(s *Store, when string) {
		t.Helper()
		for _, k := range []string{"i", "a"} {
			got, exp, err := s.Peek(ctx, k)
			if err != nil {
				t.Fatalf("%s: Peek(%q): %v", when, k, err)
			}
			if got.LockCookie != 7 || !got.Locked || string(got.Data) != "installed" || !got.LockDate.Equal(want.LockDate) {
				t.Fatalf("%s: Peek(%q) = %+v, want %+v", when, k, got, want)
			}
			if exp.Before(dl) {
				t.Fatalf("%s: deadline %v is before the installed %v", when, exp, dl)
			}
		}
	}
	img := crashImage(t, s)
	c := e.open(img)
	check(c, "after a crash before any checkpoint")
	checkpoint(t, c)
	img2 := crashImage(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := e.open(img2)
	check(c2, "after a crash after a checkpoint")
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWalkAfterCheckpointDuringPage: a record rewritten before the walk (its
// new version still pending in the log) and checkpointed after the walk's
// page transaction began is walked with its new version: the index has
// dropped the pending copy by then, and the page's transaction predates the
// commit that wrote it, so the walk must notice the commit (s.commits) and
// read it again rather than hand out the version it replaced (an export
// would write that old version).
func TestWalkAfterCheckpointDuringPage(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	// Free pages in the file, so that the checkpoint below, run while the
	// walk's read transaction is open, need not grow bbolt's memory map
	// (which waits for read transactions to end).
	filler := rec(strings.Repeat("f", 4096))
	for i := range 100 {
		if err := backends.Put(ctx, s, fmt.Sprint("filler", i), filler); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(t, s)
	for i := range 100 {
		if err := backends.Remove(ctx, s, fmt.Sprint("filler", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := backends.Put(ctx, s, k, rec("old "+k)); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(t, s)
	release := holdCheckpoints(t, s) // the rewrite of b stays pending
	if err := backends.Put(ctx, s, "b", rec("new b")); err != nil {
		t.Fatal(err)
	}
	release()
	began := 0
	walkTxBegun = func() {
		if began++; began == 1 {
			checkpoint(t, s) // commits "new b" and drops it from pending
		}
	}
	defer func() { walkTxBegun = nil }()
	got := map[string]string{}
	if err := s.Walk(ctx, func(key string, r *backends.Record, _ time.Time) error {
		got[key] = string(r.Data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "old a", "b": "new b", "c": "old c"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Walk saw %v, want %v", got, want)
	}
	if began < 2 {
		t.Fatalf("the walk began %d transactions; the checkpoint during its page should have made it begin another", began)
	}
}
