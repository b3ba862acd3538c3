package link

import (
	"fmt"
	"runtime"
	"sync"
)

// The send side of a link: group commit. Whoever sends queues its message;
// one goroutine at a time holds the writer's role and writes everything
// queued, flushing when the queue runs dry. Messages that queue while a write
// is under way therefore leave together in the next one: one system call and
// one TLS record for the lot, where each write on loopback costs the sender
// and the receiver several microseconds of kernel time.
//
// A sender of a small message takes the role itself when it is free, so a
// lone request costs no wake-up of another goroutine. A sender that expects
// company (sendBatched: other calls in flight on its link, or more requests
// read with the one it answers) first yields the processor once, so that
// goroutines already runnable can queue their messages behind it; with
// nothing else to run, the yield returns at once. Nothing is ever held back
// for a timer or for a reply, so a request that waits for a lock at the
// owner delays nobody's write.
//
// The role goes to the link's writer goroutine when it is taken for a
// message of more than one chunk or by a sender that must not block (the
// heartbeat), and once a sender has flushed callerFlushes times (its own
// message went in the first; the others may include chunks of a large
// message queued meanwhile, so a sender writes at most that many chunks
// for others).

// sendMode says who may write a message.
type sendMode int

const (
	sendNow        sendMode = iota // the caller writes, if the role is free
	sendBatched                    // the same, after letting runnable senders queue
	sendBackground                 // the writer goroutine writes: the caller must not block
)

// callerFlushes bounds the flushes a sender makes for others before it
// passes the role to the writer goroutine and goes back to its own work.
const callerFlushes = 4

// outMsg is a message waiting to be written, possibly in several chunks.
type outMsg struct {
	typ, kind byte
	id        uint64
	payload   []byte
	off       int  // bytes already handed to the writer
	started   bool // a chunk is in the writer's buffer: it can no longer be taken back
	sent      bool // its last chunk may have reached the peer: it may run there
}

// bufFrame is a chunk in the writer's buffer: the message, and where in the
// buffer the chunk ends; last: it is the message's last chunk.
type bufFrame struct {
	m    *outMsg
	end  int
	last bool
}

// sendQueue is the writer's round-robin queue (a large message goes back to
// the tail after each chunk, so a small one waits for at most one chunk) and
// the writer's role.
type sendQueue struct {
	mu      sync.Mutex // guards q, closed, writing, and the flags of outMsg
	q       []*outMsg
	closed  bool
	writing bool          // a goroutine holds the writer's role
	handoff chan struct{} // cap 1: the role goes to the writer goroutine
}

// enqueue adds m. It reports false when the link is closed, and whether the
// caller took the (free) writer's role.
func (sq *sendQueue) enqueue(m *outMsg) (ok, role bool) {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	if sq.closed {
		return false, false
	}
	sq.q = append(sq.q, m)
	if sq.writing {
		return true, false
	}
	sq.writing = true
	return true, true
}

// next takes the head of the queue for writing and marks it started; nil
// when the queue is empty or closed.
func (sq *sendQueue) next() *outMsg {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	if sq.closed || len(sq.q) == 0 {
		return nil
	}
	// Shift rather than reslice, so the queue keeps its capacity and a
	// send does not allocate (the queue is a few messages long).
	m := sq.q[0]
	n := copy(sq.q, sq.q[1:])
	sq.q[n] = nil
	sq.q = sq.q[:n]
	m.started = true
	return m
}

// wrote records that m's chunk went into the writer's buffer; a last chunk
// may reach the peer from now on.
func (sq *sendQueue) wrote(m *outMsg, more bool) {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	if more {
		if !sq.closed {
			sq.q = append(sq.q, m)
		}
		return
	}
	m.sent = true
}

// unsend clears sent for the messages whose last chunk did not leave whole
// in a failed flush: the peer cannot have run them.
func (sq *sendQueue) unsend(frames []bufFrame, written int) {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	for _, f := range frames {
		if f.last && f.end > written {
			f.m.sent = false
		}
	}
}

// release gives the role up when nothing is queued (or the link is closed);
// it reports whether it did.
func (sq *sendQueue) release() bool {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	if len(sq.q) > 0 && !sq.closed {
		return false
	}
	sq.writing = false
	return true
}

// cancel removes m if no byte of it was written; it reports whether it did.
func (sq *sendQueue) cancel(m *outMsg) bool {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	if m.started {
		return false
	}
	for i, x := range sq.q {
		if x == m {
			sq.q = append(sq.q[:i], sq.q[i+1:]...)
			break
		}
	}
	return true
}

// wasSent reports whether m may have reached the peer whole.
func (sq *sendQueue) wasSent(m *outMsg) bool {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	return m.sent
}

func (sq *sendQueue) close() {
	sq.mu.Lock()
	sq.closed = true
	sq.q = nil
	sq.mu.Unlock()
}

// send queues m for writing (see above); it reports false when the link is
// closed.
func (c *conn) send(m *outMsg, mode sendMode) bool {
	ok, role := c.out.enqueue(m)
	if !ok {
		return false
	}
	if !role {
		return true // the role holder writes it
	}
	if mode == sendBackground || len(m.payload) > chunkSize {
		c.out.handoff <- struct{}{} // never blocks: only the role holder sends
		return true
	}
	if mode == sendBatched {
		runtime.Gosched()
	}
	c.writeOut(callerFlushes)
	return true
}

// writeLoop is the writer goroutine: it writes whenever it is handed the role.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.out.handoff:
			c.writeOut(0)
		case <-c.closed:
			return
		}
	}
}

// writeOut writes what is queued, as the holder of the writer's role, until
// the queue is empty; then it gives the role up. With flushes > 0 it passes
// the role to the writer goroutine after that many flushes instead.
func (c *conn) writeOut(flushes int) {
	for done := 0; ; {
		if m := c.out.next(); m != nil {
			// Flush first if the chunk would not fit, so that the buffer
			// is only ever written by flush, which knows what it held.
			if c.bw.Available() < headerSize+min(len(m.payload)-m.off, chunkSize) && !c.flush() {
				return
			}
			more, _ := writeChunk(c.bw, m) // fits in the buffer: no write, no error
			c.inBuf = append(c.inBuf, bufFrame{m: m, end: c.bw.Buffered(), last: !more})
			c.out.wrote(m, more)
			continue
		}
		if c.bw.Buffered() > 0 {
			if !c.flush() {
				return
			}
			if done++; done == flushes {
				if !c.out.release() {
					c.out.handoff <- struct{}{}
				}
				return
			}
			continue
		}
		if c.out.release() {
			return
		}
	}
}

// flush writes the buffer. On failure it closes the link, after marking as
// not sent the messages whose last chunk did not leave whole (the peer acts
// on a message only once all of it has arrived, and the buffer's bytes
// leave in order), so that their callers get ErrNotSent.
func (c *conn) flush() bool {
	total := c.bw.Buffered()
	err := c.bw.Flush()
	if err == nil {
		clear(c.inBuf)
		c.inBuf = c.inBuf[:0]
		return true
	}
	c.out.unsend(c.inBuf, total-c.bw.Buffered())
	c.close(fmt.Errorf("write: %w", err))
	return false
}
