package frontend_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend"
)

// trickle sends s one byte every gap until it is sent or stop is closed.
func trickle(c *client, s string, gap time.Duration, stop <-chan struct{}) {
	for i := 0; i < len(s); i++ {
		select {
		case <-stop:
			return
		case <-time.After(gap):
		}
		c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := c.nc.Write([]byte{s[i]}); err != nil {
			return
		}
	}
}

// issue 17 (slowloris): a head trickling in a byte at a time, each byte well
// inside idle_timeout, is closed unanswered header_timeout after its first
// byte.
func TestHeaderTimeout(t *testing.T) {
	const ht = 300 * time.Millisecond
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.Limits.HeaderTimeout = ht }))
	c := h.dial()
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	go trickle(c, rq("GET", U1, strings.Repeat("X-Pad: 0123456789\r\n", 20), ""), 20*time.Millisecond, stop)
	if got := c.readToEOF(); got != "" {
		t.Errorf("a slow head got %q", got)
	}
	if el := time.Since(start); el < ht || el > ht+time.Second {
		t.Errorf("closed after %v, want about header_timeout %v", el, ht)
	}
	// A normal client is unaffected.
	h.dial().do(rq("HEAD", U1, "", ""), t404)
}

// issue 17: a body arriving below limits.min_body_rate is closed unanswered
// once header_timeout plus Content-Length/min_body_rate has passed since the
// head; one arriving faster is answered.
func TestMinBodyRate(t *testing.T) {
	h := newHarness(t, withConfig(func(c *frontend.Config) {
		c.Limits.HeaderTimeout = 200 * time.Millisecond
		c.Limits.MinBodyRate = 2000 // 1000 bytes: 0.5 s
	}))
	body := strings.Repeat("b", 1000)
	put := rq("PUT", U1, "Timeout: 20\r\nContent-Length: 1000\r\n", body)
	head := put[:len(put)-len(body)]

	slow := h.dial()
	slow.send(head)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go trickle(slow, body, 20*time.Millisecond, stop) // 50 bytes/s
	if got := slow.readToEOF(); got != "" {
		t.Errorf("a slow body got %q", got)
	}
	if el := time.Since(start); el < 700*time.Millisecond || el > 2*time.Second {
		t.Errorf("closed after %v, want about 0.7 s", el)
	}

	fast := h.dial()
	fast.send(head)
	for i := 0; i < len(body); i += 100 { // 100 bytes every 10 ms: 10,000 bytes/s
		time.Sleep(10 * time.Millisecond)
		fast.send(body[i : i+100])
	}
	fast.expect(t200)
	fast.finish()
}

// issue 17: at max_connections, connections holding half a request cannot
// lock other clients out: a new connection closes the slowest of them and is
// served.
func TestMaxConnectionsEvictsSlowest(t *testing.T) {
	const max = 4
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.MaxConnections = max }))
	stop := make(chan struct{})
	defer close(stop)
	var slow []*client
	for i := 0; i < max; i++ {
		c := h.dial()
		c.send("GET /")
		go trickle(c, strings.Repeat("a", 1000), 100*time.Millisecond, stop)
		slow = append(slow, c)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1200 * time.Millisecond) // older than slowAfter
	for i := 0; i < 3; i++ {
		h.dial().do(rq("HEAD", U1, "", ""), t404)
	}
	if got := slow[0].readToEOF(); got != "" {
		t.Errorf("the oldest slow connection got %q", got)
	}
}

// At max_connections with every connection idle, a new one closes the one
// idle the longest; a request it already sent is answered first.
func TestMaxConnectionsEvictsOldestIdle(t *testing.T) {
	const max = 3
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.MaxConnections = max }))
	var idle []*client
	for i := 0; i < max; i++ {
		c := h.dial()
		c.do(rq("HEAD", U1, "", ""), t404)
		idle = append(idle, c)
		time.Sleep(20 * time.Millisecond)
	}
	n := h.dial()
	n.do(rq("HEAD", U1, "", ""), t404)
	if got := idle[0].readToEOF(); got != "" {
		t.Errorf("the oldest idle connection got %q", got)
	}
	idle[2].do(rq("HEAD", U1, "", ""), t404)
	n.finish()
}

// countHandler counts log records by message prefix.
type countHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
func (h *countHandler) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := 0
	for _, n := range h.n {
		t += n
	}
	return t
}

// issue 17: refused connections are logged in aggregate, not one line each
// (7,000-15,000 lines/s under a flood).
func TestRefusedConnectionsLoggedInAggregate(t *testing.T) {
	ch := &countHandler{n: map[string]int{}}
	h := newHarness(t, withConfig(func(c *frontend.Config) {
		c.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		c.Logger = slog.New(ch)
	}))
	const n = 200
	for i := 0; i < n; i++ {
		c := h.dial()
		c.readToEOF()
		c.nc.Close()
	}
	for deadline := time.Now().Add(ioTimeout); h.srv.Stats().Rejected.Load() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.srv.Stats().Rejected.Load(); got != n {
		t.Fatalf("Rejected = %d, want %d", got, n)
	}
	if got := ch.total(); got > 3 {
		t.Errorf("%d log lines for %d refused connections: %v", got, n, ch.n)
	}
	h.shutdown()
	if ch.total() < 2 {
		t.Errorf("the refusals were not summarised at shutdown: %v", ch.n)
	}
}
