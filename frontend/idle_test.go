package frontend_test

import (
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend"
)

// The idle deadline is refreshed lazily, but a connection still closes
// IdleTimeout after its last request, not earlier and not much later, even
// when requests arrive faster than the refresh interval and the first
// deadline fires while the connection is busy.
func TestIdleTimeoutCountsFromLastRequest(t *testing.T) {
	const idle = 300 * time.Millisecond
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.IdleTimeout = idle }))
	c := h.dial()
	end := time.Now().Add(2 * idle) // busy past the first deadline
	for time.Now().Before(end) {
		c.do(rq("HEAD", U1, "", ""), t404)
		time.Sleep(5 * time.Millisecond)
	}
	c.do(rq("HEAD", U1, "", ""), t404)
	last := time.Now()
	if rest := c.readToEOF(); rest != "" {
		t.Fatalf("sent %q before closing", rest)
	}
	el := time.Since(last)
	if el < idle-idle/16 {
		t.Errorf("closed %v after the last request, before IdleTimeout %v", el, idle)
	}
	if el > idle+250*time.Millisecond {
		t.Errorf("closed %v after the last request: the idle deadline was pushed past IdleTimeout %v", el, idle)
	}
}
