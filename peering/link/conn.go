package link

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// maxHandlers bounds the requests one link runs at once; beyond it the peer
// gets tBusy (ErrNotSent) rather than stalling the reader, whose stall would
// stop heartbeats and take the link down.
const maxHandlers = 256

// maxIdleReaders bounds the handler goroutines one link keeps for reuse.
const maxIdleReaders = 16

// call is one Call waiting for its reply on a dialed link.
type call struct {
	msg      outMsg // in the same allocation as the call
	done     chan struct{}
	deadline time.Time // zero: none; the sweep fails the call by then (deadline.go)
	kind     byte
	reply    []byte
	err      error
}

// conn is one established link, either direction. The dialer's side sends
// requests and pings and reads replies; the acceptor's side runs handlers.
type conn struct {
	m      *Mesh
	peer   string
	raw    net.Conn // closed to stop everything: no close_notify that could block
	tc     *tls.Conn
	dialed bool
	out    sendQueue
	bw     *bufio.Writer   // used only by the holder of the writer's role (writer.go)
	inBuf  []bufFrame      // what bw holds since its last flush; the role holder's too
	ctx    context.Context // handlers' context, cancelled when the link closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // reader, writer, pinger and handlers
	sem    chan struct{}  // acceptor: running handlers
	// readTurn passes the frame reader to a handler goroutine that has
	// finished (passReading); idleReaders counts those waiting.
	readTurn    chan *frameReader
	idleReaders atomic.Int32
	onRTT       func(time.Duration)
	heard       atomic.Bool // a frame arrived since heartbeatLoop last looked

	nextID   atomic.Uint64
	pmu      sync.Mutex // guards pending, sweep and sweeping
	pending  map[uint64]*call
	sweep    *time.Timer // fails calls past their deadline (deadline.go)
	sweeping bool        // sweep is armed

	closeOnce sync.Once
	closed    chan struct{}
	err       error // why it closed; written once before closed is closed
}

func newConn(m *Mesh, peer string, raw net.Conn, tc *tls.Conn, dialed bool) *conn {
	c := &conn{m: m, peer: peer, raw: raw, tc: tc, dialed: dialed,
		closed: make(chan struct{}), pending: make(map[uint64]*call)}
	c.out.handoff = make(chan struct{}, 1)
	c.ctx, c.cancel = context.WithCancel(m.ctx)
	if !dialed {
		c.sem = make(chan struct{}, maxHandlers)
		c.readTurn = make(chan *frameReader)
	}
	return c
}

// start runs the link's goroutines; fr is the reader used for the hello.
func (c *conn) start(fr *frameReader, bw *bufio.Writer) {
	c.bw = bw
	c.heard.Store(true) // the hello just arrived
	c.wg.Add(3)
	go c.readLoop(fr)
	go c.writeLoop()
	go c.heartbeatLoop()
}

// close ends the link once, failing pending calls: ErrLost for those the
// peer may have received whole, ErrNotSent for the rest.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.closed)
		c.cancel()
		c.raw.Close()
		// Closing the queue first: nothing more is handed to the writer,
		// so a request not yet marked sent never will be (ErrNotSent is
		// certain).
		c.out.close()
		c.pmu.Lock()
		calls := c.pending
		c.pending = nil
		c.pmu.Unlock()
		for _, cl := range calls {
			if c.out.wasSent(&cl.msg) {
				cl.err = lost(c.peer, err)
			} else {
				cl.err = notSent(c.peer, err)
			}
			close(cl.done)
		}
	})
}

func (c *conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// wait blocks until the link is closed and its goroutines are gone.
func (c *conn) wait() {
	<-c.closed
	c.wg.Wait()
}

// heartbeatLoop pings the peer every HeartbeatInterval (dialer's side) and
// closes the link once nothing has been received for DeadAfter (both sides).
// Silence is counted in ticks, each worth at most one interval: when this
// process itself was paused (CPU starvation, a container's CPU quota, a
// stopped debugger), a late tick does not count the pause against the peer,
// whose frames may be waiting unread in the socket. A read deadline would.
func (c *conn) heartbeatLoop() {
	defer c.wg.Done()
	every, dead := c.m.cfg.HeartbeatInterval, c.m.cfg.DeadAfter
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	var silent time.Duration
	for {
		select {
		case now := <-t.C:
			step := min(now.Sub(last), every)
			last = now
			if c.heard.Swap(false) {
				silent = 0
			} else if silent += step; silent >= dead {
				c.close(fmt.Errorf("%w: nothing received for %v", errLinkDown, dead))
				return
			}
			if c.dialed {
				// Never written from here: a write that blocks on a
				// stuck peer must not stop this loop.
				c.send(&outMsg{typ: tPing, id: uint64(now.UnixNano())}, sendBackground)
			}
		case <-c.closed:
			return
		}
	}
}

func (c *conn) readLoop(fr *frameReader) {
	defer c.wg.Done()
	// Any frame counts as life (heartbeatLoop): the hook runs as each frame
	// has been read, before the next.
	fr.beforeFrame = func() { c.heard.Store(true) }
	for {
		msg, err := fr.next()
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.dialed {
			err = c.fromAcceptor(msg)
		} else if msg.typ == tRequest {
			if c.takeRequest(msg) {
				// A successor reads on; this goroutine runs the handler
				// at once, sparing the request a wake-up.
				c.passReading(fr)
				c.handle(msg)
				if fr = c.awaitReading(); fr == nil {
					return
				}
				continue
			}
		} else {
			err = c.fromDialer(msg)
		}
		if err != nil {
			c.readFailed(err)
			return
		}
	}
}

// passReading hands fr to an idle handler goroutine, or to a new one. Idle
// ones are reused because a new goroutine's stack grows, by copying, to what
// a handler needs, which cost more than the rest of a forwarded read.
func (c *conn) passReading(fr *frameReader) {
	select {
	case c.readTurn <- fr:
	default:
		c.wg.Add(1)
		go c.readLoop(fr)
	}
}

// awaitReading waits, after a handler, to be handed the reader; nil when
// the link closed or enough goroutines wait already (this one exits).
func (c *conn) awaitReading() *frameReader {
	if c.idleReaders.Add(1) > maxIdleReaders {
		c.idleReaders.Add(-1)
		return nil
	}
	defer c.idleReaders.Add(-1)
	select {
	case fr := <-c.readTurn:
		return fr
	case <-c.closed:
		return nil
	}
}

func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w: closed by peer", errLinkDown)
	case errors.Is(err, errMalformed):
		c.m.log.Warn("link: malformed frame, closing link", "peer", c.peer, "addr", c.raw.RemoteAddr().String(), "err", err)
	}
	select {
	case <-c.closed: // we closed it ourselves; keep that reason
	default:
		c.close(err)
	}
}

// fromAcceptor handles a message on a link we dialed.
func (c *conn) fromAcceptor(msg message) error {
	switch msg.typ {
	case tPong:
		if c.onRTT != nil {
			c.onRTT(time.Since(time.Unix(0, int64(msg.id))))
		}
	case tReply:
		c.finish(msg.id, msg.kind, msg.payload, nil)
	case tBusy:
		c.finish(msg.id, 0, nil, notSent(c.peer, errBusy))
	case tFail:
		c.finish(msg.id, 0, nil, lost(c.peer, fmt.Errorf("peer failed: %s", msg.payload)))
	default:
		return fmt.Errorf("%w: unexpected type %d from acceptor", errMalformed, msg.typ)
	}
	return nil
}

// fromDialer handles a message on a link the peer dialed.
func (c *conn) fromDialer(msg message) error {
	switch msg.typ {
	case tPing:
		c.send(&outMsg{typ: tPong, id: msg.id}, sendNow)
	default:
		return fmt.Errorf("%w: unexpected type %d from dialer", errMalformed, msg.typ)
	}
	return nil
}

// takeRequest admits a request to run, or answers busy when maxHandlers run.
func (c *conn) takeRequest(msg message) bool {
	select {
	case c.sem <- struct{}{}:
		return true
	default:
		c.send(&outMsg{typ: tBusy, id: msg.id}, sendNow)
		return false
	}
}

// handle runs the handler for msg on the calling goroutine and sends its
// reply; the caller has taken a slot of c.sem.
func (c *conn) handle(msg message) {
	defer func() { <-c.sem }()
	defer func() {
		if r := recover(); r != nil {
			c.m.log.Error("link: handler panicked", "peer", c.peer, "kind", msg.kind, "panic", r, "stack", string(debug.Stack()))
			c.send(&outMsg{typ: tFail, id: msg.id, payload: []byte("handler panicked")}, sendNow)
		}
	}()
	kind, reply := c.m.cfg.Handler(c.ctx, c.peer, msg.kind, msg.payload)
	if len(reply) > c.m.cfg.MaxFrame {
		c.m.log.Error("link: reply exceeds MaxFrame, not sent", "peer", c.peer, "kind", msg.kind, "bytes", len(reply))
		c.send(&outMsg{typ: tFail, id: msg.id, payload: []byte("reply exceeds MaxFrame")}, sendNow)
		return
	}
	// More replies are on their way when more requests arrived with this
	// one or other handlers run: let them join this one's write.
	mode := sendNow
	if msg.more || len(c.sem) > 1 {
		mode = sendBatched
	}
	c.send(&outMsg{typ: tReply, kind: kind, id: msg.id, payload: reply}, mode)
}

func (c *conn) finish(id uint64, kind byte, reply []byte, err error) {
	c.pmu.Lock()
	cl := c.pending[id]
	delete(c.pending, id)
	c.pmu.Unlock()
	if cl == nil {
		return // the caller gave up; drop the late reply
	}
	cl.kind, cl.reply, cl.err = kind, reply, err
	close(cl.done)
}

// call sends one request and waits for its reply, until ctx ends or, when
// deadline is not zero, until deadline.
func (c *conn) call(ctx context.Context, deadline time.Time, kind byte, payload []byte) (byte, []byte, error) {
	id := c.nextID.Add(1)
	cl := &call{msg: outMsg{typ: tRequest, kind: kind, id: id, payload: payload}, done: make(chan struct{}), deadline: deadline}
	c.pmu.Lock()
	if c.pending == nil {
		c.pmu.Unlock()
		return 0, nil, notSent(c.peer, errLinkDown)
	}
	c.pending[id] = cl
	if !deadline.IsZero() {
		c.armSweepLocked(deadline)
	}
	// Other calls in flight on this link: more requests are likely on
	// their way, and can leave in this one's write.
	mode := sendNow
	if len(c.pending) > 1 {
		mode = sendBatched
	}
	c.pmu.Unlock()
	if !c.send(&cl.msg, mode) {
		// close is failing pending calls; it will fail this one too.
		<-cl.done
		return cl.kind, cl.reply, cl.err
	}
	select {
	case <-cl.done:
		return cl.kind, cl.reply, cl.err
	case <-ctx.Done():
	}
	// Take the call back unless a reply or close got there first.
	c.pmu.Lock()
	mine := c.pending[id] == cl
	if mine {
		delete(c.pending, id)
	}
	c.pmu.Unlock()
	if !mine {
		<-cl.done
		return cl.kind, cl.reply, cl.err
	}
	if c.out.cancel(&cl.msg) {
		return 0, nil, notSent(c.peer, ctx.Err())
	}
	return 0, nil, lost(c.peer, ctx.Err())
}
