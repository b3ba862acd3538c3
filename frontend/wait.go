package frontend

import (
	"context"
	"errors"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// Lock wait (locking.Waiters, the locking.* keys): a Get or GetExclusive
// answered 423 is held, on its connection's goroutine, until the lock is
// released, the wait runs out or the client goes away. Other connections
// have goroutines of their own and are not held up; requests pipelined
// behind the waiting one on the same connection wait their turn, in order.

// apply runs the current request, waiting for the session's lock when the
// lock wait is on and the answer is a 423 to a Get or GetExclusive. Each run
// rebuilds the answer from c.mark, with the clock read again, so the answer
// sent is the last run's, exactly as if the request had just arrived.
//
// A request for a session that others already wait for does not run at
// once: it queues behind them (Waiters.AwaitBehind).
func (c *conn) apply(key string) error {
	w := c.s.cfg.Waits
	arrived := c.now // a real clock's reading, monotonic; re-runs move c.now
	if !c.s.cfg.realClock {
		arrived = time.Now() // a test clock: the real time from here
	}
	retry := func() (int, error) {
		c.now = c.s.cfg.Now()
		err := c.runOnce(key)
		return c.result.Status, err
	}
	if c.s.cfg.Router == nil { // with peering, requests wait at the owner
		queued, err := w.AwaitBehind(c.s.ctx, key, c.lreq.Op, retry, c.clientGone)
		if queued {
			if waitEnded(err) {
				err = nil // Shutdown: the answer of the run it made stands
			}
			if err != nil || c.result.Status != 423 {
				return err
			}
			return c.damp(key, arrived)
		}
	}
	err := c.runOnce(key)
	if err != nil || c.result.Status != 423 {
		return err
	}
	if c.ran && w.Waits(c.lreq.Op, c.result.Status) {
		// A forwarded request (!c.ran) has already waited at the owner.
		err = w.Await(c.s.ctx, key, c.lreq.Op, retry, c.clientGone)
		if waitEnded(err) {
			return nil // Shutdown gave up waiting: the last answer stands
		}
		if err != nil || c.result.Status != 423 {
			return err
		}
	}
	return c.damp(key, arrived)
}

// waitEnded tells a wait given up by Shutdown.
func waitEnded(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// damp holds the 423 just answered to a Get or GetExclusive when its
// session is hot (Config.Hot): the request is then answered no sooner than
// the hot delay after it arrived, and runs again first, so the answer is
// the one of that moment (a 423 with the lock's date and age then, or a 200
// or 404 if the lock went meanwhile). A request that already waited that
// long (a lock wait) is not held; a client that hung up during the delay is
// not run again (it could take a lock nobody would release). Only 423s are
// ever held, and only the hot session's.
func (c *conn) damp(key string, arrived time.Time) error {
	h := c.s.cfg.Hot
	if h == nil || (c.lreq.Op != locking.OpGet && c.lreq.Op != locking.OpGetExclusive) {
		return nil
	}
	now := time.Now()
	if !h.Note(key, now) {
		return nil
	}
	hold := h.Hold(now.Sub(arrived))
	if hold <= 0 {
		return nil
	}
	c.s.stats.HotDelayed.Add(1)
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.s.ctx.Done():
		return nil // shutting down: the answer stands
	}
	if c.clientGone() {
		return locking.ErrClientGone
	}
	c.now = c.s.cfg.Now()
	return c.runOnce(key)
}

// runOnce runs the request once and, when its transition released the lock
// here, wakes the session's first waiter.
func (c *conn) runOnce(key string) error {
	c.ran, c.released = false, false
	err := c.run(key)
	if err == nil && c.released {
		c.s.cfg.Waits.Notify(key)
	}
	return err
}

// clientGone tells whether the waiting request's client has hung up (only
// when nothing else it sent is buffered: then the peek sees its close).
func (c *conn) clientGone() bool { return c.start == c.end && c.io.PeerClosed() }

// errClientGone reports a waiter whose client left: close without answering.
func errClientGone(err error) bool { return errors.Is(err, locking.ErrClientGone) }

// routeCtx is the context to route the current request with: for a Get or
// GetExclusive that may wait at another gateway (the lock wait is on), one
// that carries the client's close check (locking.WithClientGone), so the
// router can give the request up there when the client hangs up. Only when
// nothing else the client sent is buffered: then a close is what the peek
// sees. Built once per connection.
func (c *conn) routeCtx() context.Context {
	s := c.s
	if !s.cfg.Waits.Enabled() || (c.lreq.Op != locking.OpGet && c.lreq.Op != locking.OpGetExclusive) || c.start != c.end {
		return s.ctx
	}
	if c.watchCtx == nil {
		c.watchCtx = locking.WithClientGone(s.ctx, c.io.PeerClosed)
	}
	return c.watchCtx
}
