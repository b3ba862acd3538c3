package peering

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is parent bounded by a deadline whose timer is made only when
// something waits on Done. A forwarded operation on a memory store only asks
// Err, and for it a timer and a child context (registered with the link's
// context, under its lock) cost more than the operation itself. Waiting on
// Done (a lock wait, a durable store's commit, a call to another member)
// makes the ordinary context.WithDeadline and delegates to it from then on.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	real   context.Context // nil until Done is first called
	cancel context.CancelFunc
}

func withLazyDeadline(parent context.Context, deadline time.Time) *lazyDeadline {
	return &lazyDeadline{parent: parent, deadline: deadline}
}

// materialize returns the real context, making it on first use.
func (c *lazyDeadline) materialize() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real == nil {
		c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.real
}

func (c *lazyDeadline) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.real
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.materialize().Done() }

func (c *lazyDeadline) Err() error {
	if r := c.made(); r != nil {
		if err := r.Err(); err != nil {
			return err
		}
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers from the real context once it exists, so that
// context.Cause sees its cancellation and a context derived from this one
// (context.WithCancel calls Done first) attaches to it directly, without a
// goroutine to follow it.
func (c *lazyDeadline) Value(key any) any {
	if r := c.made(); r != nil {
		return r.Value(key)
	}
	return c.parent.Value(key)
}

// stop releases the timer, if one was made.
func (c *lazyDeadline) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}
