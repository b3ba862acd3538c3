package locking

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
	waitFor(t, w, 1)
	nextDone := make(chan error, 1)
	go func() {
		nextDone <- w.Await(context.Background(), "k", OpGetExclusive, func() (int, error) {
			if free() {
				return 200, nil
			}
			return 423, nil
		}, nil)
	}()
	waitFor(t, w, 2)
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

// A request arriving while others wait for the key joins behind them
// without running: it runs first when its turn's wake comes, after the head
// took the lock and released it. With nobody waiting, or a full queue, it
// is not queued and does not run.
func TestAwaitBehindJoinsWithoutRunning(t *testing.T) {
	w := NewWaiters(WaitConfig{Wait: 3 * time.Second, MaxWaiters: 2})
	noRun := func() (int, error) { t.Error("ran a request that was not queued"); return 0, nil }
	if q, err := w.AwaitBehind(context.Background(), "k", OpGetExclusive, noRun, nil); q || err != nil {
		t.Fatalf("nobody waiting: queued %v, %v", q, err)
	}
	var mu sync.Mutex
	holder := "someone"
	acquire := func(name string, runs *int) func() (int, error) {
		return func() (int, error) {
			mu.Lock()
			defer mu.Unlock()
			*runs++
			if holder != "" {
				return 423, nil
			}
			holder = name
			return 200, nil
		}
	}
	release := func() { mu.Lock(); holder = ""; mu.Unlock(); w.Notify("k") }
	var headRuns, behindRuns int
	headDone := make(chan error, 1)
	go func() {
		headDone <- w.Await(context.Background(), "k", OpGetExclusive, acquire("head", &headRuns), nil)
	}()
	waitFor(t, w, 1)
	behindDone := make(chan error, 1)
	go func() {
		q, err := w.AwaitBehind(context.Background(), "k", OpGetExclusive, acquire("behind", &behindRuns), nil)
		if !q {
			err = errors.New("not queued behind the head")
		}
		behindDone <- err
	}()
	waitFor(t, w, 2)
	if q, _ := w.AwaitBehind(context.Background(), "k", OpGet, noRun, nil); q {
		t.Fatal("queued beyond MaxWaiters")
	}
	release()
	if err := <-headDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if holder != "head" || behindRuns != 0 {
		t.Fatalf("after the first release: holder %q, the request behind ran %d times (want head, 0)", holder, behindRuns)
	}
	mu.Unlock()
	start := time.Now()
	release()
	if err := <-behindDone; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the request behind was answered %v after the release: not woken", d)
	}
	if holder != "behind" || behindRuns != 1 || headRuns != 2 {
		t.Errorf("holder %q, runs: behind %d (want 1), head %d (want 2)", holder, behindRuns, headRuns)
	}
}

// A request queued behind others that never ran when the wait is given up
// (shutdown) runs once, so that it has an answer; unless its client is gone:
// then it does not run, as it would take a lock nobody releases.
func TestAwaitBehindGivenUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gone     func() bool
		wantErr  error
		wantRuns int
	}{
		{"runs once", nil, context.Canceled, 1},
		{"client gone", func() bool { return true }, ErrClientGone, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWaiters(WaitConfig{Wait: 3 * time.Second})
			headDone := make(chan error, 1)
			go func() {
				headDone <- w.Await(context.Background(), "k", OpGet, func() (int, error) { return 423, nil }, nil)
			}()
			waitFor(t, w, 1)
			ctx, cancel := context.WithCancel(context.Background())
			runs := 0
			done := make(chan error, 1)
			go func() {
				_, err := w.AwaitBehind(ctx, "k", OpGetExclusive, func() (int, error) { runs++; return 423, nil }, tc.gone)
				done <- err
			}()
			waitFor(t, w, 2)
			cancel()
			if err := <-done; !errors.Is(err, tc.wantErr) || runs != tc.wantRuns {
				t.Fatalf("given up: %v after %d runs, want %v after %d", err, runs, tc.wantErr, tc.wantRuns)
			}
			w.Notify("k")
			<-headDone
		})
	}
}

// A release that comes between the head's last run and its leaving (its
// wait ran out) is passed on: the next waiter is woken at once instead of
// waiting out its own wait.
func TestAwaitTimedOutHeadPassesALateWake(t *testing.T) {
	w := NewWaiters(WaitConfig{Wait: 1500 * time.Millisecond})
	var free atomic.Bool
	headRuns := 0
	headDone := make(chan error, 1)
	go func() {
		headDone <- w.Await(context.Background(), "k", OpGet, func() (int, error) {
			headRuns++
			if headRuns == 2 { // the run when its wait ran out
				free.Store(true)
				w.Notify("k") // released just after that run read it
			}
			return 423, nil
		}, nil)
	}()
	waitFor(t, w, 1)
	time.Sleep(700 * time.Millisecond)
	nextDone := make(chan error, 1)
	go func() {
		nextDone <- w.Await(context.Background(), "k", OpGet, func() (int, error) {
			if free.Load() {
				return 200, nil
			}
			return 423, nil
		}, nil)
	}()
	waitFor(t, w, 2)
	joined := time.Now()
	<-headDone
	if err := <-nextDone; err != nil {
		t.Fatal(err)
	}
	// The head's wait ends about 800 ms after the next one joined; the
	// next one's own wait 1,500 ms after.
	if d := time.Since(joined); d > 1300*time.Millisecond {
		t.Errorf("the next waiter answered %v after joining: the late wake was lost", d)
	}
}

// waitFor waits until n requests wait in w, failing after 5 s.
func waitFor(t *testing.T, w *Waiters, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", w.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
