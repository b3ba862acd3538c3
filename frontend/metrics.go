package frontend

import (
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// Request metrics. Each connection counts its requests by operation and
// status, and (with Config.RequestTiming) their durations in fixed buckets,
// in plain fields; it adds them to the server's RequestStats in batches, as
// it does the status counters (see statusCounts). A scrape reads the atomics:
// the request path does no more than a few increments of its own memory.

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

// RequestStats are the request counters by operation slot (see NumOps).
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

// reqCounts are one connection's request counts not yet added to the
// server's RequestStats.
type reqCounts struct {
	n       [NumOps][len(Statuses)]int64
	buckets [NumOps][len(DurationBounds) + 1]int64
	sum     [NumOps]int64
	touched uint16 // bit i: slot i has counts
	pending int
}

// record counts one answer: op is the operation slot, d its duration (0
// when not timed).
func (rc *reqCounts) record(op locking.Op, code int, d time.Duration, timed bool) {
	i := int(op)
	if i >= NumOps {
		i = 0
	}
	rc.n[i][statusIndex(code)]++
	if timed {
		b := 0
		for b < len(durationBoundsNanos) && d > durationBoundsNanos[b] {
			b++
		}
		rc.buckets[i][b]++
		rc.sum[i] += int64(d)
	}
	rc.touched |= 1 << i
	rc.pending++
}

// maybePublish publishes the connection's counts when statusCounts would.
func (c *conn) maybePublish(now time.Time) {
	if c.reqs.pending >= publishEvery || (c.reqs.pending > 0 && now.Sub(c.counts.publishedAt) > time.Second) {
		c.reqs.publish(&c.s.stats.Requests)
	}
	c.counts.maybePublish(&c.s.stats, now)
}

// closed publishes what is left and counts the connection's end.
func (c *conn) closed(reason closeReason) {
	c.reqs.publish(&c.s.stats.Requests)
	c.counts.publish(&c.s.stats)
	c.s.stats.Closed[closeIndex(reason)].Add(1)
}

// publish adds the pending counts to rs.
func (rc *reqCounts) publish(rs *RequestStats) {
	if rc.pending == 0 {
		return
	}
	for i := 0; i < NumOps; i++ {
		if rc.touched&(1<<i) == 0 {
			continue
		}
		for j, v := range rc.n[i] {
			if v != 0 {
				rs.Count[i][j].Add(v)
			}
		}
		for j, v := range rc.buckets[i] {
			if v != 0 {
				rs.Buckets[i][j].Add(v)
			}
		}
		if rc.sum[i] != 0 {
			rs.SumNanos[i].Add(rc.sum[i])
		}
	}
	*rc = reqCounts{}
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

// startTiming notes when the current request was read.
func (c *conn) startTiming() {
	if c.s.cfg.RequestTiming {
		c.started = time.Now()
	}
}
