package frontend

import (
	"context"
	"sync"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
)

// Memory under hostile clients (issue 17). Three bounds keep one client, or
// many, from making the server allocate what they merely announce:
//
//   - A connection's read buffer grows with the bytes that actually arrive
//     (doubling, capped at what the pending request needs), never at once to
//     the declared Content-Length.
//   - Every byte of a read buffer beyond its base size (readBufSize) is taken
//     from one server-wide budget, limits.max_inflight_bytes. A request that
//     cannot get room within budgetWait is answered 400 and its connection
//     closed (docs/protocol.md §3.6), as a body over the size limit is. Small
//     requests never touch the budget, so other clients keep their latency.
//   - A connection stops reading and parsing its pipelined requests once
//     maxQueuedOut bytes of responses wait to be written: it writes them
//     first, so at most one large response beyond that is ever queued.

const (
	// maxQueuedOut is how many bytes of responses a connection may have built
	// and not written before it stops handling requests to write them.
	maxQueuedOut = 1 << 20
	// budgetWait is how long a request waits for room in the server-wide
	// budget before it is refused.
	budgetWait = time.Second
	// smallGrow: a pending request that needs at most this much gets its
	// whole buffer at once (one read instead of several for a common
	// session of a few KiB); larger ones grow as bytes arrive.
	smallGrow = 64 << 10
)

// budget is a server-wide allowance of bytes. It is safe for concurrent use.
type budget struct {
	limit int64

	mu   sync.Mutex    // guards used and wake
	used int64         // bytes handed out and not yet released
	wake chan struct{} // closed (and cleared) by release when someone waits
}

// acquire takes n bytes, waiting up to wait for others to release them. It
// reports false when they could not be had (n above the whole budget, the
// wait expired, or ctx ended).
func (b *budget) acquire(ctx context.Context, n int64, wait time.Duration) bool {
	if n <= 0 {
		return true
	}
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if n > b.limit || wait <= 0 {
			b.mu.Unlock()
			return false
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		ch := b.wake
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// release returns n bytes and wakes those waiting for room.
func (b *budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}

// InflightBytes reports the request bytes now buffered beyond the
// connections' base buffers, i.e. taken from limits.max_inflight_bytes.
func (s *Server) InflightBytes() int64 {
	s.guard.budget.mu.Lock()
	defer s.guard.budget.mu.Unlock()
	return s.guard.budget.used
}

// makeRoom moves unparsed bytes to the front and, when the buffer is full,
// grows it: to the pending request's whole size if that is small, otherwise
// doubling, capped at that size (before the head is parsed, the parser's
// limits bound it). Bytes beyond readBufSize come from the server's budget;
// makeRoom reports false when they could not be had in time.
func (c *conn) makeRoom() bool {
	pending := c.end - c.start
	switch {
	case pending == 0:
		c.start, c.end = 0, 0
		if len(c.in) > keepBufMax {
			c.setIn(make([]byte, readBufSize))
		}
	case c.start > 0:
		copy(c.in, c.in[c.start:c.end])
		c.start, c.end = 0, pending
	}
	need := c.parser.Need()
	var size int
	switch {
	case need > len(c.in) && need <= smallGrow:
		size = need
	case c.end == len(c.in) && need > len(c.in):
		size = min(need, 2*len(c.in))
	case c.end == len(c.in) && need == 0:
		size = 2 * len(c.in)
	default:
		return true
	}
	if more := int64(size - len(c.in)); !c.s.guard.budget.acquire(c.s.ctx, more, budgetWait) {
		return false
	}
	c.held += int64(size - len(c.in))
	grown := make([]byte, size)
	copy(grown, c.in[:c.end])
	c.in = grown
	return true
}

// setIn replaces the read buffer with a base-size one, returning what the
// old one held of the budget.
func (c *conn) setIn(b []byte) {
	c.s.guard.budget.release(c.held)
	c.held = 0
	c.in = b
}

// releaseBuffers returns the connection's share of the budget when it ends.
func (c *conn) releaseBuffers() {
	c.s.guard.budget.release(c.held)
	c.held = 0
}

// queued is the number of response bytes built and not yet written.
func (c *conn) queued() int {
	n := len(c.out) - c.vecEnd
	for _, b := range c.vec {
		n += len(b)
	}
	return n
}

// refuseNoRoom answers a request that could not get room in the budget: 400,
// then close, as for a body over limits.max_body_bytes.
func (c *conn) refuseNoRoom() (closeReason, error) {
	c.counts.count(400)
	c.out = wire.AppendResponse(c.out, c.s.cfg.Version, &wire.Response{Status: 400})
	c.flush(time.Now())
	c.s.guard.noRoom.Log(c.s.ctx, errNoRoom, "request refused: limits.max_inflight_bytes reached; answered 400 and closed",
		"remote", c.nc.RemoteAddr().String(), "need", c.parser.Need(), "max_inflight_bytes", c.s.guard.budget.limit)
	return reasonNoRoom, errNoRoom
}
