package locking

import (
	"strings"
	"sync"
	"time"
)

// One hot session cannot starve the rest (issue 15): a session polled far
// faster than any web server polls (ASP.NET retries a 423 after 500 ms) has
// its further 423s answered a little later, so its pollers cost the gateway
// (and the machine) a bounded rate of requests instead of all the CPU they
// can get. See HotSessions.

const (
	// HotWindow is the window over which a session's 423s are counted.
	HotWindow = 100 * time.Millisecond
	// MaxHotDelay is the longest configurable delay: far below the web
	// server's own 500 ms poll, so it cannot tell the delay from a slow
	// network.
	MaxHotDelay = 50 * time.Millisecond
	// DefaultHot423s and DefaultHotDelay are locking.hot_423s and
	// locking.hot_delay (the README says why damping is on by default).
	DefaultHot423s  = 20
	DefaultHotDelay = 25 * time.Millisecond
)

// HotSessions counts the 423s answered per session and tells when one is
// hot: it answered more than the limit in the last HotWindow (estimated
// from two fixed windows, the previous one weighted by how much of it still
// overlaps). A nil *HotSessions, or one with a zero limit or delay, never
// reports a session hot.
//
// Only 423s are counted: a request answered otherwise costs nothing here,
// and sessions without 423s in the last two windows have no entry. Safe for
// concurrent use.
type HotSessions struct {
	limit  int
	delay  time.Duration
	window time.Duration

	mu        sync.Mutex
	at        time.Time         // start of the current window
	cur, prev map[string]*int32 // 423s per key in the current, previous window
}

// NewHotSessions returns the counter for cfg (locking.hot_423s,
// locking.hot_delay), or nil when the damping is off.
func NewHotSessions(cfg WaitConfig) *HotSessions {
	if cfg.Hot423s <= 0 || cfg.HotDelay <= 0 {
		return nil
	}
	w := cfg.HotWindow
	if w <= 0 {
		w = HotWindow
	}
	return &HotSessions{limit: cfg.Hot423s, delay: cfg.HotDelay, window: w,
		cur: map[string]*int32{}, prev: map[string]*int32{}}
}

// Delay is the configured delay (0 when off).
func (h *HotSessions) Delay() time.Duration {
	if h == nil {
		return 0
	}
	return h.delay
}

// Note counts a 423 answered for key at now and reports whether key is hot:
// more than the limit of 423s (this one included) in the last window.
// now must carry a monotonic reading (time.Now).
func (h *HotSessions) Note(key string, now time.Time) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d := now.Sub(h.at)
	switch {
	case d >= 2*h.window || d < 0:
		clear(h.prev)
		clear(h.cur)
		h.at, d = now, 0
	case d >= h.window:
		h.prev, h.cur = h.cur, h.prev
		clear(h.cur)
		h.at, d = h.at.Add(h.window), d-h.window
	}
	n := h.cur[key]
	if n == nil {
		// The caller's key may borrow a buffer: the map keeps a copy. (An
		// existing entry is counted through its pointer: assigning to it
		// again would store the borrowed key in the map.)
		n = new(int32)
		h.cur[strings.Clone(key)] = n
	}
	*n++
	est := int64(*n)
	if p := h.prev[key]; p != nil {
		est += int64(*p) * int64(h.window-d) / int64(h.window)
	}
	return est > int64(h.limit)
}

// Hold tells how long a 423 for a hot session is still held when its
// request has already taken elapsed: the delay counts from the request's
// arrival, so a request that already waited (a lock wait) is not held
// again. Never more than the delay.
func (h *HotSessions) Hold(elapsed time.Duration) time.Duration {
	if h == nil || elapsed >= h.delay {
		return 0
	}
	if elapsed < 0 {
		elapsed = 0
	}
	return h.delay - elapsed
}
