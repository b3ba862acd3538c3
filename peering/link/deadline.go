package link

import (
	"context"
	"time"
)

// A call's deadline (a forwarded operation's peering.request_timeout) is
// kept by a sweep of the link's pending calls rather than by a timer and a
// context per call, which cost a forwarded read more than encoding it. The
// sweep runs every sweepEvery while calls with a deadline are pending and
// fails each call whose deadline is nearer than sweepEvery, so a call ends
// at most sweepEvery before its deadline and never after it (but for a
// deadline already nearer than sweepEvery when the call starts while the
// sweep runs: that one may be passed by up to sweepEvery).
const sweepEvery = 10 * time.Millisecond

// armSweepLocked starts the sweep for a call with deadline d, unless it
// runs already. c.pmu is held.
func (c *conn) armSweepLocked(d time.Time) {
	if c.sweeping {
		return
	}
	c.sweeping = true
	first := min(sweepEvery, max(time.Until(d), 0))
	if c.sweep == nil {
		c.sweep = time.AfterFunc(first, c.sweepDeadlines)
	} else {
		c.sweep.Reset(first)
	}
}

// sweepDeadlines fails the calls whose deadline is near, as a call given up
// by its context is failed: ErrNotSent if its request had not started to
// leave, ErrLost otherwise. It runs again while calls with a deadline remain.
func (c *conn) sweepDeadlines() {
	limit := time.Now().Add(sweepEvery)
	var expired []*call
	c.pmu.Lock()
	more := false
	for id, cl := range c.pending { // nil once the link closed: nothing to do
		switch {
		case cl.deadline.IsZero():
		case cl.deadline.After(limit):
			more = true
		default:
			delete(c.pending, id)
			expired = append(expired, cl)
		}
	}
	c.sweeping = more
	if more {
		c.sweep.Reset(sweepEvery)
	}
	c.pmu.Unlock()
	for _, cl := range expired {
		if c.out.cancel(&cl.msg) {
			cl.err = notSent(c.peer, context.DeadlineExceeded)
		} else {
			cl.err = lost(c.peer, context.DeadlineExceeded)
		}
		close(cl.done)
	}
}
