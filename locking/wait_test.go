package locking

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

func TestReleases(t *testing.T) {
	locked := &backends.Record{Locked: true, LockCookie: 2}
	unlocked := &backends.Record{LockCookie: 2}
	for _, tc := range []struct {
		name string
		cur  *backends.Record
		ch   backends.Change
		want bool
	}{
		{"unlock", locked, backends.Change{Action: backends.Store, Record: *unlocked}, true},
		{"delete", locked, backends.Change{Action: backends.Delete}, true},
		{"keep", locked, backends.Change{Action: backends.Keep}, false},
		{"store locked", locked, backends.Change{Action: backends.Store, Record: *locked}, false},
		{"was not locked", unlocked, backends.Change{Action: backends.Delete}, false},
		{"absent", nil, backends.Change{Action: backends.Store, Record: *unlocked}, false},
	} {
		if got := Releases(tc.cur, tc.ch); got != tc.want {
			t.Errorf("%s: Releases = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWaitConfigValidate(t *testing.T) {
	for _, c := range []WaitConfig{{Wait: -1}, {Wait: MaxWait + 1}, {MaxWaiters: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if c := (WaitConfig{Wait: MaxWait, MaxWaiters: 1}); c.Validate() != nil {
		t.Errorf("%+v refused", c)
	}
}

// A waiter whose client is gone is skipped: it does not run again and the
// wake passes to the next waiter, which runs and takes the lock.
func TestAwaitSkipsGoneAndPassesTheWake(t *testing.T) {
	w := NewWaiters(WaitConfig{Wait: 3 * time.Second})
	lockFree := make(chan struct{})
	free := func() bool {
		select {
		case <-lockFree:
			return true
		default:
			return false
		}
	}
	goneRuns := 0
	goneDone := make(chan error, 1)
	go func() {
		goneDone <- w.Await(context.Background(), "k", OpGetExclusive, func() (int, error) {
			goneRuns++
			return 423, nil
		}, func() bool { return true })
	}()
	for w.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	nextDone := make(chan error, 1)
	go func() {
		nextDone <- w.Await(context.Background(), "k", OpGetExclusive, func() (int, error) {
			if free() {
				return 200, nil
			}
			return 423, nil
		}, nil)
	}()
	for w.Waiting() != 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	close(lockFree)
	w.Notify("k")
	if err := <-goneDone; err != ErrClientGone {
		t.Fatalf("gone waiter: %v, want ErrClientGone", err)
	}
	if err := <-nextDone; err != nil {
		t.Fatalf("next waiter: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("next waiter answered after %v: the wake was not passed on", d)
	}
	if goneRuns != 1 {
		t.Errorf("the gone waiter ran %d times after joining, want 1 (its first re-check only)", goneRuns)
	}
	if w.Waiting() != 0 || len(w.queues) != 0 {
		t.Errorf("%d waiting, %d queues left", w.Waiting(), len(w.queues))
	}
}

// The ExpectFunc is told of a wait before the request runs again (so that a
// release after that run is announced), with the key and the configured
// wait; an error from it ends the wait with that error, without running the
// request again, and the queue is left empty.
func TestAwaitExpectsTheReleaseFirst(t *testing.T) {
	w := NewWaiters(WaitConfig{Wait: 50 * time.Millisecond})
	var order []string
	w.ExpectWith(func(_ context.Context, key string, d time.Duration) error {
		order = append(order, "expect "+key+" "+d.String())
		return nil
	})
	err := w.Await(context.Background(), "k", OpGetExclusive, func() (int, error) {
		order = append(order, "run")
		return 200, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "expect k 50ms" || order[1] != "run" {
		t.Fatalf("calls %q, want the expect (key k, 50ms) before the run", order)
	}

	failed := errors.New("store down")
	w.ExpectWith(func(context.Context, string, time.Duration) error { return failed })
	runs := 0
	err = w.Await(context.Background(), "k", OpGet, func() (int, error) { runs++; return 423, nil }, nil)
	if !errors.Is(err, failed) || runs != 0 {
		t.Fatalf("with a failing expect: err %v after %d runs, want the expect's error and no run", err, runs)
	}
	if n := w.Waiting(); n != 0 {
		t.Fatalf("%d still waiting after the failed wait", n)
	}
}
