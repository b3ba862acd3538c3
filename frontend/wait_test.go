package frontend_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/locking"
)

// Lock wait (issue 15, README "Lock wait"): every conformance row holds with
// the wait on, and the rows below pin what the wait adds. Waits here are real
// time (the fake clock moves only LockAge and expiry); "woken before the
// wait's end" checks use a 3 s wait and a 2 s margin.

// withWait turns the lock wait on and returns the registry, so tests can
// see requests queue.
func withWait(wait time.Duration, max int) (option, *locking.Waiters) {
	w := locking.NewWaiters(locking.WaitConfig{Wait: wait, MaxWaiters: max})
	return withConfig(func(c *frontend.Config) { c.Waits = w }), w
}

// Every row of docs/protocol.md §8, byte for byte, with a 30 ms lock wait:
// a 423 is the same 423, only later.
func TestConformanceWithLockWait(t *testing.T) {
	for _, r := range conformanceRows {
		t.Run(fmt.Sprintf("%02d_%s", r.n, r.name), func(t *testing.T) {
			t.Parallel()
			opt, _ := withWait(30*time.Millisecond, 0)
			r.run(t, newHarness(t, opt))
		})
	}
}

// queued waits until n requests wait in w.
func queued(t *testing.T, w *locking.Waiters, n int64) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for w.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", w.Waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func cookie(n int) string { return "LockCookie: " + strconv.Itoa(n) + "\r\n" }

// woken checks that an answer came before the wait's end (3 s), with margin.
func woken(t *testing.T, since time.Time) {
	t.Helper()
	if d := time.Since(since); d > 2*time.Second {
		t.Errorf("answered after %v: not woken by the release (the wait is 3s)", d)
	}
}

func TestLockWaitReleaseWakesTheWaiter(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	h := newHarness(t, opt)
	owner, waiter := h.dial(), h.dial()
	row5(h, owner) // locked, cookie 2
	start := time.Now()
	waiter.send(acq1)
	queued(t, w, 1)
	owner.do(release1(cookie(2)), t200)
	waiter.expect(t200x(3, 20, B7, false))
	woken(t, start)
	queued(t, w, 0)
	owner.finish()
	waiter.finish()
}

func TestLockWaitPutWithCookieWakesAGet(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	h := newHarness(t, opt)
	owner, reader := h.dial(), h.dial()
	row5(h, owner)
	start := time.Now()
	reader.send(get1)
	queued(t, w, 1)
	owner.do(rq("PUT", U1, "Timeout: 30\r\n"+cookie(2)+"Content-Length: 3\r\n", "new"), t200)
	reader.expect(t200g(30, "new", false))
	woken(t, start)
	owner.finish()
	reader.finish()
}

func TestLockWaitRemoveAnswers404(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	h := newHarness(t, opt)
	owner, waiter := h.dial(), h.dial()
	row5(h, owner)
	start := time.Now()
	waiter.send(acq1)
	queued(t, w, 1)
	owner.do(rq("DELETE", U1, cookie(2), ""), t200)
	waiter.expect(t404)
	woken(t, start)
	owner.finish()
	waiter.finish()
}

// When the wait runs out the answer is the 423 of that moment: the lock's
// date, and its age by the clock then.
func TestLockWaitRunsOut(t *testing.T) {
	opt, w := withWait(200*time.Millisecond, 0)
	h := newHarness(t, opt)
	owner, waiter := h.dial(), h.dial()
	lockAt := row5(h, owner)
	waiter.send(acq1)
	queued(t, w, 1)
	h.clock.Advance(7 * time.Second)
	waiter.expect(t423(2, 7, ticksOf(lockAt)))
	queued(t, w, 0)
	owner.do(release1(cookie(2)), t200) // the lock was not taken meanwhile
	owner.finish()
	waiter.finish()
}

// A record that expires during the wait (only a test clock can do that: the
// waiting request slid its deadline) is absent when the wait ends.
func TestLockWaitExpiry(t *testing.T) {
	opt, w := withWait(200*time.Millisecond, 0)
	h := newHarness(t, opt)
	owner, waiter := h.dial(), h.dial()
	row5(h, owner)
	waiter.send(acq1)
	queued(t, w, 1)
	h.clock.Advance(21 * time.Minute)
	waiter.expect(t404)
	owner.finish()
	waiter.finish()
}

// A waiter whose client hung up is skipped and takes no lock: the next
// one gets the very next cookie.
func TestLockWaitSkipsADisconnectedWaiter(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	h := newHarness(t, opt)
	owner, gone, next := h.dial(), h.dial(), h.dial()
	row5(h, owner)
	gone.send(acq1)
	queued(t, w, 1)
	gone.nc.Close()
	start := time.Now()
	next.send(acq1)
	queued(t, w, 2)
	owner.do(release1(cookie(2)), t200)
	next.expect(t200x(3, 20, B7, false))
	woken(t, start)
	queued(t, w, 0)
	owner.do(get1, t423(3, 0, ticksOf(h.clock.Now())))
	owner.finish()
	next.finish()
}

// Waiters are served in arrival order, one acquirer per release.
func TestLockWaitFIFO(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	h := newHarness(t, opt)
	owner := h.dial()
	row5(h, owner)
	var ws []*client
	for i := 0; i < 4; i++ {
		c := h.dial()
		c.send(acq1)
		queued(t, w, int64(i+1))
		ws = append(ws, c)
	}
	owner.do(release1(cookie(2)), t200)
	for i, c := range ws {
		c.expect(t200x(3+i, 20, B7, false))
		queued(t, w, int64(len(ws)-i-1))
		// The others are still waiting: one acquirer per release.
		c.do(release1(cookie(3+i)), t200)
	}
	owner.finish()
}

// Beyond max_waiters, a request gets the immediate 423.
func TestLockWaitMaxWaiters(t *testing.T) {
	opt, w := withWait(3*time.Second, 1)
	h := newHarness(t, opt)
	owner, first, second := h.dial(), h.dial(), h.dial()
	lockAt := row5(h, owner)
	first.send(get1)
	queued(t, w, 1)
	start := time.Now()
	second.do(get1, t423(2, 0, ticksOf(lockAt)))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the request beyond max_waiters waited %v", d)
	}
	owner.do(release1(cookie(2)), t200)
	first.expect(t200g(20, B7, false))
	owner.finish()
	first.finish()
	second.finish()
}

// Requests pipelined behind a waiting one stay in order.
func TestLockWaitPipelinedStayInOrder(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	h := newHarness(t, opt)
	owner, c := h.dial(), h.dial()
	row5(h, owner)
	c.send(acq1 + get1)
	queued(t, w, 1)
	owner.do(release1(cookie(2)), t200)
	c.expect(t200x(3, 20, B7, false), t423(3, 0, ticksOf(h.clock.Now())))
	owner.finish()
	c.finish()
}

// The wait is the front end's, so it works the same on every store one
// process owns: a release wakes the waiter on bbolt and badger too.
func TestLockWaitDurableStores(t *testing.T) {
	for _, name := range []string{"bbolt", "badger"} {
		t.Run(name, func(t *testing.T) {
			opt, w := withWait(3*time.Second, 0)
			h := newHarness(t, opt, withBackend(func(backends.Backend) backends.Backend {
				var st backends.Backend
				var err error
				dir := t.TempDir()
				if name == "bbolt" {
					st, err = boltstore.Open(boltstore.Config{Path: filepath.Join(dir, "db"), Sync: "none"})
				} else {
					st, err = badgerstore.Open(badgerstore.Config{Path: dir, Sync: "none"})
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}))
			owner, waiter := h.dial(), h.dial()
			row5(h, owner)
			start := time.Now()
			waiter.send(acq1)
			queued(t, w, 1)
			owner.do(rq("PUT", U1, cookie(2)+"Content-Length: 3\r\n", "new"), t200)
			waiter.expect(t200x(3, 20, "new", false))
			woken(t, start)
			owner.finish()
			waiter.finish()
		})
	}
}

// countApplies counts the store operations the server runs.
type countApplies struct {
	backends.Backend
	n *atomic.Int64
}

func (c countApplies) Apply(ctx context.Context, key string, fn backends.Transition) error {
	c.n.Add(1)
	return c.Backend.Apply(ctx, key, fn)
}

// A request for a session that others already wait for joins behind them
// without touching the store (it would find the lock held): it runs first
// when its turn comes, and the turns go in arrival order.
func TestLockWaitJoinsBehindWithoutRunning(t *testing.T) {
	opt, w := withWait(3*time.Second, 0)
	var applies atomic.Int64
	h := newHarness(t, opt, withBackend(func(b backends.Backend) backends.Backend { return countApplies{b, &applies} }))
	owner, first, second := h.dial(), h.dial(), h.dial()
	row5(h, owner) // locked, cookie 2
	first.send(acq1)
	queued(t, w, 1)
	before := applies.Load()
	second.send(acq1)
	queued(t, w, 2)
	time.Sleep(50 * time.Millisecond) // a run would have been quick
	if n := applies.Load() - before; n != 0 {
		t.Fatalf("the request arriving behind a waiter ran %d store operations before its turn, want 0", n)
	}
	start := time.Now()
	owner.do(release1(cookie(2)), t200)
	first.expect(t200x(3, 20, B7, false))
	queued(t, w, 1)
	first.do(release1(cookie(3)), t200)
	second.expect(t200x(4, 20, B7, false))
	woken(t, start)
	queued(t, w, 0)
	second.do(release1(cookie(4)), t200)
	owner.finish()
	first.finish()
	second.finish()
}
