package frontend

import (
	"context"
	"errors"

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
func (c *conn) apply(key string) error {
	w := c.s.cfg.Waits
	err := c.runOnce(key)
	if err != nil || !c.ran || !w.Waits(c.lreq.Op, c.result.Status) {
		// A forwarded request (!c.ran) has already waited at the owner.
		return err
	}
	err = w.Await(c.s.ctx, key, c.lreq.Op, func() (int, error) {
		c.now = c.s.cfg.Now()
		err := c.runOnce(key)
		return c.result.Status, err
	}, c.clientGone)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // Shutdown gave up waiting: the last answer stands
	}
	return err
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
