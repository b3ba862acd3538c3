package boltstore

import (
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
