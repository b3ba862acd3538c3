package frontend

import (
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// Request metrics. Each connection counts its requests by operation and
// status, and (with Config.RequestTiming) their durations in fixed buckets,
// with atomic adds to counters of its own, which no other goroutine writes;
// a scrape sums them over the open connections (Server.Requests), and a
// closing connection adds them to the server's. So the request path costs a
// few uncontended atomic adds, and a scrape sees every answer already sent.

// NumOps is the number of operation slots in RequestStats: OpLabel(0) is a
// request refused before it had an operation (malformed or invalid), then
// one slot per locking.Op.
const NumOps = int(locking.OpResetTimeout) + 1

// OpLabel names operation slot i for a metric label.
func OpLabel(i int) string { return opLabels[i] }

var opLabels = [NumOps]string{"invalid", "get", "get_exclusive", "release", "set", "remove", "reset_timeout"}

// Statuses are the only statuses a web server ever receives, in the order of
// RequestStats.Count's second index.
var Statuses = [4]int{200, 400, 404, 423}

// DurationBounds are the upper bounds, in seconds, of the request duration
// buckets (RequestStats.Buckets has one more, for longer requests).
var DurationBounds = [...]float64{
	25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10,
}

// durationBoundsNanos are DurationBounds as durations, for the request path.
var durationBoundsNanos = func() (b [len(DurationBounds)]time.Duration) {
	for i, s := range DurationBounds {
		b[i] = time.Duration(s * float64(time.Second))
	}
	return b
}()

// RequestStats are request counters by operation slot (see NumOps): one
// connection's, or (Stats.Requests) those of the connections closed so far.
type RequestStats struct {
	// Count is requests answered, by operation slot and status (Statuses).
	Count [NumOps][len(Statuses)]atomic.Int64
	// Buckets counts durations (not cumulative): Buckets[op][i] those
	// at most DurationBounds[i] and above the bound before; the last, the
	// rest. Only with Config.RequestTiming. A duration is the time from a
	// request read to its answer encoded, without writing it to the client.
	Buckets [NumOps][len(DurationBounds) + 1]atomic.Int64
	// SumNanos is the sum of the durations counted in Buckets.
	SumNanos [NumOps]atomic.Int64
}

// CloseReasons are the label values of Stats.Closed, in its order.
var CloseReasons = [...]string{
	"client_closed", "idle_timeout", "read_error", "write_error", "protocol_error",
	"backend_error", "connection_close", "shutdown", "client_gone", "other",
}

func closeIndex(r closeReason) int {
	switch r {
	case reasonClientClosed:
		return 0
	case reasonIdle:
		return 1
	case reasonReadError:
		return 2
	case reasonWriteError:
		return 3
	case reasonProtocol:
		return 4
	case reasonBackend:
		return 5
	case reasonConnHeader:
		return 6
	case reasonShutdown:
		return 7
	case reasonClientGone:
		return 8
	}
	return len(CloseReasons) - 1
}

func statusIndex(code int) int {
	switch code {
	case 200:
		return 0
	case 400:
		return 1
	case 404:
		return 2
	}
	return 3
}

// reqCounts are one connection's request counts. Only the connection's
// goroutine adds to them (uncontended atomic adds on its own memory); a
// scrape reads them (Server.Requests), and when the connection closes they
// move to the server's Stats.Requests.
type reqCounts struct {
	RequestStats
	retired bool // moved to Stats.Requests; guarded by Server.mu
}

// record counts one answer: op is the operation slot, d its duration (only
// when timed).
func (rc *reqCounts) record(op locking.Op, code int, d time.Duration, timed bool) {
	i := int(op)
	if i >= NumOps {
		i = 0
	}
	rc.Count[i][statusIndex(code)].Add(1)
	if timed {
		b := 0
		for b < len(durationBoundsNanos) && d > durationBoundsNanos[b] {
			b++
		}
		rc.Buckets[i][b].Add(1)
		rc.SumNanos[i].Add(int64(d))
	}
}

// addTo adds rs's counts to dst.
func (rs *RequestStats) addTo(dst *RequestCounts) {
	for i := 0; i < NumOps; i++ {
		for j := range rs.Count[i] {
			dst.Count[i][j] += rs.Count[i][j].Load()
		}
		for j := range rs.Buckets[i] {
			dst.Buckets[i][j] += rs.Buckets[i][j].Load()
		}
		dst.SumNanos[i] += rs.SumNanos[i].Load()
	}
}

// moveTo adds rs's counts to dst's atomics.
func (rs *RequestStats) moveTo(dst *RequestStats) {
	for i := 0; i < NumOps; i++ {
		for j := range rs.Count[i] {
			if v := rs.Count[i][j].Load(); v != 0 {
				dst.Count[i][j].Add(v)
			}
		}
		for j := range rs.Buckets[i] {
			if v := rs.Buckets[i][j].Load(); v != 0 {
				dst.Buckets[i][j].Add(v)
			}
		}
		if v := rs.SumNanos[i].Load(); v != 0 {
			dst.SumNanos[i].Add(v)
		}
	}
}

// RequestCounts is a snapshot of the request counters (see RequestStats).
type RequestCounts struct {
	Count    [NumOps][len(Statuses)]int64
	Buckets  [NumOps][len(DurationBounds) + 1]int64
	SumNanos [NumOps]int64
}

// Requests returns the request counters now: those of closed connections
// and those of open ones, each counted once.
func (s *Server) Requests() RequestCounts {
	var out RequestCounts
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests.addTo(&out)
	for c := range s.conns {
		if !c.reqs.retired {
			c.reqs.addTo(&out)
		}
	}
	return out
}

// closed moves the connection's counts to the server's and counts its end.
func (c *conn) closed(reason closeReason) {
	c.counts.publish(&c.s.stats)
	c.s.mu.Lock()
	c.reqs.moveTo(&c.s.stats.Requests)
	c.reqs.retired = true
	c.s.mu.Unlock()
	c.s.stats.Closed[closeIndex(reason)].Add(1)
}

// answered counts the answer to the current request, op being its operation
// slot (0 when it had none).
func (c *conn) answered(op locking.Op, code int) {
	c.counts.count(code)
	if c.s.cfg.RequestTiming {
		c.reqs.record(op, code, time.Since(c.started), true)
		return
	}
	c.reqs.record(op, code, 0, false)
}

// maybePublish publishes the status counters in batches (statusCounts).
func (c *conn) maybePublish(now time.Time) { c.counts.maybePublish(&c.s.stats, now) }

// startTiming notes when the current request was read: c.now, just read,
// unless the clock is not the real one.
func (c *conn) startTiming() {
	if c.s.cfg.RequestTiming {
		if c.s.cfg.realClock {
			c.started = c.now
		} else {
			c.started = time.Now()
		}
	}
}
