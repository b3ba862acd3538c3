package frontend

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"
)

// Slow clients (issue 17). Each byte used to reset idle_timeout, so a client
// sending a byte every few seconds held its connection, and 50 of them held
// every slot of max_connections. Now:
//
//   - A request's head must be complete limits.header_timeout after its first
//     byte arrived, and its body must then arrive at limits.min_body_rate on
//     average (with header_timeout more of grace); otherwise the connection
//     is closed unanswered (the request was never whole).
//   - When max_connections is reached, a new connection closes an existing
//     one to make room rather than being refused: the connection whose
//     pending request started longest ago (if more than slowAfter ago), or
//     else the one idle the longest. A connection evicted while it has
//     requests in hand answers them first (only its read is cut short).
//   - Refused and evicted connections are logged in aggregate (rateLog).

// slowAfter: a connection whose pending request started less than this long
// ago is busy, not slow, and is not chosen to make room.
const slowAfter = time.Second

// Reasons a connection closes, beside those in errors.go.
const (
	reasonNoRoom  closeReason = "no room in limits.max_inflight_bytes"
	reasonSlow    closeReason = "request too slow"
	reasonEvicted closeReason = "closed to make room under max_connections"
)

// bgCtx is the context of log lines that belong to no request.
var bgCtx = context.Background()

var (
	errNoRoom  = errors.New("limits.max_inflight_bytes reached")
	errRefused = errors.New("connection refused")
	errEvicted = errors.New("connection closed to make room")
)

// guard is the server's shared state for the limits above.
type guard struct {
	budget budget
	// Aggregated log lines: one line then a count every failureLogEvery.
	refused, evicted, noRoom, slow *rateLog
}

func newGuard(cfg *Config) *guard {
	return &guard{
		budget:  budget{limit: cfg.Limits.MaxInflightBytes},
		refused: newRateLog(cfg.Logger, slog.LevelWarn, "connections refused"),
		evicted: newRateLog(cfg.Logger, slog.LevelWarn, "connections closed to make room under max_connections"),
		noRoom:  newRateLog(cfg.Logger, slog.LevelWarn, "requests refused for want of room in limits.max_inflight_bytes"),
		slow:    newRateLog(cfg.Logger, slog.LevelInfo, "slow connections closed (limits.header_timeout, limits.min_body_rate)"),
	}
}

func (g *guard) flush() {
	for _, r := range []*rateLog{g.refused, g.evicted, g.noRoom, g.slow} {
		r.Flush(bgCtx)
	}
}

// connGuard is one connection's part: its pending request's deadline, and
// what the accept loop reads to choose a connection to evict.
type connGuard struct {
	// Owned by the connection's goroutine.
	reqStart time.Time // when the pending request's first byte was seen; zero: none pending
	headSeen bool      // the pending request's head is complete and its deadline extended for the body
	deadline time.Time // the pending request's deadline
	armed    time.Time // the request deadline the read deadline includes

	// Published for the accept loop (unix nanoseconds; 0: not yet waiting).
	waitingSince atomic.Int64 // when the connection's current wait began: request start or last activity
	partial      atomic.Bool  // it is waiting with half a request
	evicted      atomic.Bool  // chosen to make room: close once its requests are answered
	victim       atomic.Bool  // chosen already (by the accept loop), so not chosen twice
}

// requestDone clears the pending request's deadline: it was parsed whole.
func (g *connGuard) requestDone() {
	g.reqStart, g.headSeen, g.deadline = time.Time{}, false, time.Time{}
}

// requestDeadline returns the pending request's deadline (zero when nothing
// is pending), starting or extending it as the request progresses.
func (c *conn) requestDeadline(now time.Time) time.Time {
	g := &c.guard
	if c.start == c.end {
		g.requestDone()
		return time.Time{}
	}
	lim := &c.s.cfg.Limits
	if g.reqStart.IsZero() {
		g.reqStart = now
		g.deadline = now.Add(lim.HeaderTimeout)
	}
	if need := c.parser.Need(); need > 0 && !g.headSeen {
		g.headSeen = true
		body := time.Duration(float64(need) / float64(lim.MinBodyRate) * float64(time.Second))
		g.deadline = now.Add(lim.HeaderTimeout + body)
	}
	return g.deadline
}

// armReadDeadline sets the read deadline before a read: the idle deadline
// (moved only when more than 1/16 stale, see loop), or the pending
// request's deadline when that comes first. It also publishes what the
// accept loop needs to choose a connection to evict.
func (c *conn) armReadDeadline(now, lastActivity time.Time, base *time.Time) {
	g := &c.guard
	rd := c.requestDeadline(now)
	idle := c.s.cfg.IdleTimeout
	if !rd.Equal(g.armed) || lastActivity.Sub(*base) > idle/16 {
		dl := lastActivity.Add(idle)
		if !rd.IsZero() && rd.Before(dl) {
			dl = rd
		}
		c.nc.SetReadDeadline(dl)
		*base, g.armed = lastActivity, rd
	}
	if rd.IsZero() {
		g.partial.Store(false)
		g.waitingSince.Store(lastActivity.UnixNano())
	} else {
		g.partial.Store(true)
		g.waitingSince.Store(g.reqStart.UnixNano())
	}
	if g.evicted.Load() {
		// The accept loop may have cut the deadline short just before the
		// line above moved it: cut it again.
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// timedOut tells why a read deadline that fired ends the connection, if it
// does: eviction, or a request too slow. Empty: only the idle deadline may
// apply (the caller checks it).
func (c *conn) timedOut(now time.Time) closeReason {
	g := &c.guard
	if g.evicted.Load() {
		return reasonEvicted
	}
	if !g.deadline.IsZero() && !now.Before(g.deadline) {
		what := "request head not complete within limits.header_timeout"
		if g.headSeen {
			what = "request body slower than limits.min_body_rate"
		}
		c.s.guard.slow.Log(bgCtx, errors.New(what), "closing a slow connection: "+what,
			"remote", c.nc.RemoteAddr().String(), "after", now.Sub(g.reqStart).Round(time.Millisecond).String())
		return reasonSlow
	}
	return ""
}

// refuse closes a connection that is not admitted, logging in aggregate.
func (s *Server) refuse(nc net.Conn, reason closeReason) {
	s.stats.Rejected.Add(1)
	s.guard.refused.Log(bgCtx, errors.Join(errRefused, errors.New(string(reason))), "connection refused",
		"remote", nc.RemoteAddr().String(), "reason", string(reason), "max_connections", s.cfg.MaxConnections)
	nc.Close()
}

// evictLocked chooses a connection to close so a new one can be admitted at
// max_connections, and tells it to close. It reports false when every
// connection is busy. s.mu must be held.
func (s *Server) evictLocked(now time.Time) bool {
	var slowest, idlest *conn
	var slowSince, idleSince int64
	for c := range s.conns {
		g := &c.guard
		since := g.waitingSince.Load()
		if since == 0 || g.victim.Load() {
			continue
		}
		if g.partial.Load() {
			if now.Sub(time.Unix(0, since)) >= slowAfter && (slowest == nil || since < slowSince) {
				slowest, slowSince = c, since
			}
		} else if idlest == nil || since < idleSince {
			idlest, idleSince = c, since
		}
	}
	victim := slowest
	if victim == nil {
		victim = idlest
	}
	if victim == nil {
		return false
	}
	victim.guard.victim.Store(true)
	victim.guard.evicted.Store(true)
	victim.nc.SetReadDeadline(time.Unix(1, 0))
	s.guard.evicted.Log(bgCtx, errEvicted, "max_connections reached: closing a connection to make room",
		"remote", victim.nc.RemoteAddr().String(), "slow", victim == slowest,
		"waiting", now.Sub(time.Unix(0, victim.guard.waitingSince.Load())).Round(time.Millisecond).String(),
		"max_connections", s.cfg.MaxConnections)
	return true
}
