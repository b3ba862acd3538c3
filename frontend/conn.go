package frontend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/rawconn"
	"github.com/aspstate/aspstate/locking"
)

const (
	// readBufSize is a connection's read buffer between large requests: a
	// real request (about 200 header bytes and a few KiB of session) fits.
	readBufSize = 8 << 10
	// keepBufMax: buffers grown past this for one large body are dropped
	// once idle, so one 20 MiB session does not pin 20 MiB per connection.
	keepBufMax = 256 << 10
)

// conn is one client connection, served by one goroutine. Its buffers are
// reused from request to request; nothing is allocated per request on the
// common path.
type conn struct {
	s      *Server
	nc     net.Conn      // deadlines, Close, addresses
	io     *rawconn.Conn // reads, writes and the peek (see package rawconn)
	parser *wire.Parser

	// watchCtx carries the client's close check to a router (routeCtx).
	watchCtx context.Context

	in         []byte // read buffer; unparsed bytes are in[start:end]
	start, end int
	out        []byte // responses not yet written
	// With bodies sent from the store (sendBodies), the responses not yet
	// written are vec, then out[vecEnd:]: vec alternates pieces of out with
	// stored bodies, and one vectored write sends it all.
	sendBodies bool
	// vectored: one write may send several buffers (TCP); large bodies of
	// a store without stable bytes are then copied into pooled buffers
	// (bodypool.go) and sent from there.
	vectored   bool
	vec        [][]byte
	vecEnd     int
	body       []byte   // the body the current transition's response refers to
	bodyPooled bool     // body is a pooled copy
	pooled     [][]byte // pooled copies in vec, released once written

	req  wire.Request
	lreq locking.Request

	// Per-request inputs and outputs of the transition. The transition is a
	// method value built once per connection, so handing it to the backend
	// allocates nothing per request.
	transition backends.Transition
	now        time.Time
	mark       int
	result     locking.Result
	// ran: the transition ran here (not forwarded); released: it freed a
	// lock that waiters may be queued behind (see wait.go).
	ran, released bool

	writeDeadlineSetAt time.Time
	counts             statusCounts // published to the server's Stats in batches
	reqs               reqCounts    // the same, by operation (metrics.go)
	started            time.Time    // when the current request was read, with RequestTiming

	held  int64     // bytes of in beyond readBufSize, taken from the server's budget (budget.go)
	guard connGuard // request deadlines and eviction (slow.go)
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, io: rawconn.New(nc), parser: wire.NewParser(s.cfg.Limits),
		in: make([]byte, readBufSize), out: make([]byte, 0, readBufSize)}
	// Only a TCP connection sends several buffers with one writev.
	_, isTCP := nc.(*net.TCPConn)
	c.sendBodies = s.stableBodies && isTCP
	c.vectored = isTCP
	c.transition = c.transit
	return c
}

// interrupt wakes a goroutine blocked reading so it sees the shutdown.
func (c *conn) interrupt() { c.nc.SetReadDeadline(time.Now()) }

func (c *conn) serve() {
	c.s.stats.Open.Add(1)
	defer c.s.stats.Open.Add(-1)
	reason, err := c.loop()
	c.nc.Close()
	c.releaseBuffers()
	c.closed(reason)
	if c.s.log.Enabled(c.s.ctx, slog.LevelDebug) {
		c.s.log.Debug("connection closed", "remote", c.nc.RemoteAddr().String(), "reason", string(reason), "err", err)
	}
}

func (c *conn) loop() (closeReason, error) {
	graced := false
	idle := c.s.cfg.IdleTimeout
	// Resetting a deadline costs a runtime timer update, so the idle deadline
	// is only moved when it is more than 1/16 stale; when a stale deadline
	// fires early, the real idle time decides (below), so the timeout stays
	// exact. A pending request's own deadline comes first (armReadDeadline).
	var deadlineBase time.Time // the activity time the read deadline counts from
	lastActivity, active := time.Now(), false
	for {
		// Answer every whole request already buffered, in order; responses
		// to pipelined requests go out in one write.
		for c.start < c.end {
			n, err := c.parser.Parse(c.in[c.start:c.end], &c.req)
			if errors.Is(err, wire.ErrIncomplete) {
				break
			}
			if err != nil {
				return c.protocolError(err)
			}
			c.start += n
			c.guard.requestDone()
			if closeNow, reason := c.handle(); closeNow {
				if err := c.flush(time.Now()); err != nil {
					return reasonWriteError, err
				}
				return reason, nil
			}
			if c.queued() >= maxQueuedOut {
				// Stop reading requests while this many replies wait.
				if err := c.flush(time.Now()); err != nil {
					return reasonWriteError, err
				}
			}
		}
		now := time.Now()
		if active {
			lastActivity, active = now, false
		}
		if err := c.flush(now); err != nil {
			return reasonWriteError, err
		}
		c.maybePublish(now)
		if !c.makeRoom() {
			return c.refuseNoRoom()
		}
		c.armReadDeadline(now, lastActivity, &deadlineBase)
		if c.s.shuttingDown.Load() {
			if c.start == c.end || graced {
				return reasonShutdown, nil
			}
			graced = true // half a request is here: let it finish
			c.nc.SetReadDeadline(now.Add(shutdownGrace))
		}
		n, err := c.io.Read(c.in[c.end:])
		c.end += n
		active = active || n > 0
		if err != nil && n == 0 {
			switch {
			case errors.Is(err, io.EOF):
				return reasonClientClosed, nil
			case errors.Is(err, os.ErrDeadlineExceeded) && c.s.shuttingDown.Load():
				if c.start < c.end && !graced {
					continue
				}
				return reasonShutdown, nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				if r := c.timedOut(time.Now()); r != "" {
					return r, nil
				}
				if time.Since(lastActivity) < idle {
					deadlineBase = time.Time{} // re-armed at the top of the loop
					continue
				}
				return reasonIdle, nil
			}
			return reasonReadError, err
		}
	}
}

// flush writes the pending responses. Like the read deadline, the write
// deadline is only moved when it is more than 1/16 stale, so a client that
// stops reading is dropped after 15/16 to all of WriteTimeout.
func (c *conn) flush(now time.Time) error {
	if len(c.out) == 0 && len(c.vec) == 0 {
		return nil
	}
	if wt := c.s.cfg.WriteTimeout; now.Sub(c.writeDeadlineSetAt) > wt/16 {
		c.nc.SetWriteDeadline(now.Add(wt))
		c.writeDeadlineSetAt = now
	}
	var err error
	if len(c.vec) == 0 {
		_, err = c.io.Write(c.out)
	} else {
		if c.vecEnd < len(c.out) {
			c.vec = append(c.vec, c.out[c.vecEnd:])
		}
		_, err = c.io.Writev(c.vec)
		clear(c.vec) // drop the references to stored bodies
		c.vec, c.vecEnd = c.vec[:0], 0
		for _, b := range c.pooled {
			releaseBody(b)
		}
		clear(c.pooled)
		c.pooled = c.pooled[:0]
	}
	if cap(c.out) > keepBufMax {
		c.out = make([]byte, 0, readBufSize)
	} else {
		c.out = c.out[:0]
	}
	return err
}

func (c *conn) protocolError(err error) (closeReason, error) {
	c.s.stats.ProtocolErrs.Add(1)
	var pe *wire.ProtocolError
	if errors.As(err, &pe) && pe.Reply400 {
		c.answered(0, 400)
		c.out = wire.AppendResponse(c.out, c.s.cfg.Version, &wire.Response{Status: 400})
		c.flush(time.Now())
	}
	c.s.log.Info("closing connection: malformed request", "remote", c.nc.RemoteAddr().String(), "err", err)
	return reasonProtocol, err
}
