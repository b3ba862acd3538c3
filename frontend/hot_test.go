package frontend_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/locking"
)

// One hot session (issue 15, README "Lock wait"): once a session has
// answered more than locking.hot_423s 423s in 100 ms, its further 423s are
// answered hot_delay after their request arrived, run again first. These
// tests build the counter directly, with delays longer than hot_delay may be
// configured, so lower bounds are certain and the server is seen mid-delay,
// and with a 10 s window, so a session stays hot however slow the machine.

func withHot(limit int, delay time.Duration) option {
	h := locking.NewHotSessions(locking.WaitConfig{Hot423s: limit, HotDelay: delay, HotWindow: 10 * time.Second})
	return withConfig(func(c *frontend.Config) { c.Hot = h })
}

// Every row of docs/protocol.md §8, byte for byte, with every 423 after the
// first of a session held: the test clock stands still, so a held 423 is
// the same 423, only later.
func TestConformanceWithHotDamping(t *testing.T) {
	for _, r := range conformanceRows {
		t.Run(fmt.Sprintf("%02d_%s", r.n, r.name), func(t *testing.T) {
			t.Parallel()
			r.run(t, newHarness(t, withHot(1, 5*time.Millisecond)))
		})
	}
}

// delayed waits until the server has held n 423s.
func delayed(t *testing.T, h *harness, n int64) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for h.srv.Stats().HotDelayed.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d 423s held, want %d", h.srv.Stats().HotDelayed.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Only the hot session's 423s are held, for the delay and no longer than a
// bound; its 200s, and every answer of other sessions, are not held.
func TestHotDelayOnlyTheHotSession(t *testing.T) {
	const delay = 200 * time.Millisecond
	h := newHarness(t, withHot(3, delay))
	owner, c, c2 := h.dial(), h.dial(), h.dial()
	lockAt := row5(h, owner) // U1 locked, cookie 2
	owner.do(rq("PUT", U2, "Timeout: 20\r\nContent-Length: 7\r\n", B7), t200)
	owner.do(rq("GET", U2, "Exclusive: acquire\r\n", ""), t200x(2, 20, B7, false))
	for i := 0; i < 3; i++ { // up to the limit: at once
		c.do(get1, t423(2, 0, ticksOf(lockAt)))
	}
	delayed(t, h, 0)
	// Past it: held (two at once, so both count in the same 100 ms).
	start := time.Now()
	c.send(acq1)
	c2.send(get1)
	c.expect(t423(2, 0, ticksOf(lockAt)))
	c2.expect(t423(2, 0, ticksOf(lockAt)))
	if d := time.Since(start); d < delay {
		t.Errorf("a hot session's 423s answered after %v, want at least %v", d, delay)
	} else if d > delay+2*time.Second {
		t.Errorf("a hot session's 423s answered after %v: the delay is bounded by %v", d, delay)
	}
	delayed(t, h, 2)
	// Another locked session is not hot: its 423 is not held.
	c.do(rq("GET", U2, "", ""), t423(2, 0, ticksOf(lockAt)))
	// 200s are never held, the hot session's included.
	c.do(rq("GET", U2, "Exclusive: release\r\nLockCookie: 2\r\n", ""), t200)
	c.do(rq("GET", U2, "", ""), t200g(20, B7, false))
	owner.do(release1(cookie(2)), t200)
	c.do(get1, t200g(20, B7, false))
	c.do(acq1, t200x(3, 20, B7, false))
	delayed(t, h, 2)
	owner.finish()
	c.finish()
	c2.finish()
}

// A held 423 carries the lock as it is when the answer is written: the
// request runs again after the delay (here the lock aged 7 s meanwhile; in
// the next test it was released).
func TestHotDelayAnswersTheLockOfThatMoment(t *testing.T) {
	h := newHarness(t, withHot(1, time.Second))
	owner, c := h.dial(), h.dial()
	lockAt := row5(h, owner)
	c.do(get1, t423(2, 0, ticksOf(lockAt)))
	c.send(get1)
	delayed(t, h, 1)
	h.clock.Advance(7 * time.Second)
	c.expect(t423(2, 7, ticksOf(lockAt)))
	owner.finish()
	c.finish()
}

func TestHotDelayReleasedMeanwhileAnswers200(t *testing.T) {
	h := newHarness(t, withHot(1, time.Second))
	owner, c := h.dial(), h.dial()
	lockAt := row5(h, owner)
	c.do(acq1, t423(2, 0, ticksOf(lockAt)))
	c.send(acq1)
	delayed(t, h, 1)
	owner.do(release1(cookie(2)), t200)
	c.expect(t200x(3, 20, B7, false))
	owner.finish()
	c.finish()
}

// A client that hangs up during the delay is not run again: it takes no
// lock (the next acquirer gets the next cookie) and gets no answer.
func TestHotDelaySkipsADisconnectedClient(t *testing.T) {
	const delay = 300 * time.Millisecond
	h := newHarness(t, withHot(1, delay))
	owner, gone, next := h.dial(), h.dial(), h.dial()
	lockAt := row5(h, owner)
	gone.do(acq1, t423(2, 0, ticksOf(lockAt)))
	gone.send(acq1)
	delayed(t, h, 1)
	gone.nc.Close()
	owner.do(release1(cookie(2)), t200) // free during the delay
	closed := &h.srv.Stats().Closed[8]  // client_gone
	deadline := time.Now().Add(ioTimeout)
	for closed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the held request's connection was not closed as client_gone")
		}
		time.Sleep(time.Millisecond)
	}
	next.do(acq1, t200x(3, 20, B7, false))
	owner.finish()
	next.finish()
}

// A request that already waited (lock wait) for longer than the delay is
// not held again; the lock wait's overflow (beyond max_waiters) is.
func TestHotDelayAfterLockWait(t *testing.T) {
	w := locking.NewWaiters(locking.WaitConfig{Wait: 300 * time.Millisecond, MaxWaiters: 1})
	h := newHarness(t, withHot(1, 200*time.Millisecond), withConfig(func(c *frontend.Config) { c.Waits = w }))
	owner, c, over := h.dial(), h.dial(), h.dial()
	lockAt := row5(h, owner)
	c.do(get1, t423(2, 0, ticksOf(lockAt))) // waited 300ms
	c.do(get1, t423(2, 0, ticksOf(lockAt))) // hot, but waited longer than the delay
	delayed(t, h, 0)
	c.send(get1)
	queued(t, w, 1)
	start := time.Now()
	over.do(get1, t423(2, 0, ticksOf(lockAt))) // beyond max_waiters: held
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the overflow's 423 answered after %v, want at least 200ms", d)
	}
	c.expect(t423(2, 0, ticksOf(lockAt)))
	delayed(t, h, 1)
	owner.finish()
	c.finish()
	over.finish()
}
