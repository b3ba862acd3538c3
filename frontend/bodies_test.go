package frontend_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// hideStable hides memstore's backends.StableData, so the server copies
// bodies into its output buffer as it does for bbolt and badger.
type hideStable struct{ backends.Backend }

// bigBody returns n bytes of a recognisable pattern starting with tag.
func bigBody(tag string, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(tag)
		b.WriteString(strconv.Itoa(b.Len()))
	}
	return b.String()[:n]
}

// bodiesScript mixes bodies above and below the size sent from the store,
// replaced and locked between reads, so that a response sent from the store
// must carry the bytes of its moment, in order.
// scale multiplies the bodies' sizes: at 100 they straddle minPooledBody.
func bodiesScript(scale int) (script string, want []string) {
	a, b, c := bigBody("a", 1000*scale), bigBody("b", 4000*scale), bigBody("c", 600*scale)
	put := func(target, body, extra string) string {
		return rq("PUT", target, "Timeout: 20\r\n"+extra+"Content-Length: "+strconv.Itoa(len(body))+"\r\n", body)
	}
	script = put(U1, a, "") +
		rq("GET", U1, "", "") +
		put(U1, b, "") +
		rq("GET", U1, "", "") +
		put(U2, B26, "") +
		rq("GET", U2, "", "") +
		rq("GET", U1, "Exclusive: acquire\r\n", "") +
		put(U1, c, "LockCookie: 2\r\n") +
		rq("GET", U1, "", "") +
		rq("GET", U2, "", "")
	want = []string{t200, t200g(20, a, false), t200, t200g(20, b, false), t200, t200g(20, B26, false),
		t200x(2, 20, b, false), t200, t200g(20, c, false), t200g(20, B26, false)}
	return script, want
}

// TestLargeBodiesInOrder runs the script pipelined in one write, and split
// in two writes at many positions, with bodies sent from the store
// (memstore) and copied (the same store, hiding StableData): the bytes are
// the same and exact.
func TestLargeBodiesInOrder(t *testing.T) {
	copied := []option{withBackend(func(b backends.Backend) backends.Backend { return hideStable{b} })}
	for _, tc := range []struct {
		name  string
		opts  []option
		scale int
	}{
		{"sent-from-store", nil, 1},
		{"copied", copied, 1},
		// Bodies from 60 to 400 KB: the larger ones are copied into pooled
		// buffers (bodypool.go), released only once written.
		{"copied-pooled", copied, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, want := bodiesScript(tc.scale)
			h := newHarness(t, tc.opts...)
			c := h.dial()
			reset := func() {
				c.do(rq("DELETE", U1, "", ""), t200)
				c.do(rq("DELETE", U2, "", ""), t200)
			}
			c.send(script)
			c.expect(want...)
			reset()
			for i := 1; i < len(script); i += 173 * tc.scale {
				c.send(script[:i])
				time.Sleep(200 * time.Microsecond)
				c.send(script[i:])
				for k, w := range want {
					checkBytes(t, fmt.Sprintf("split at %d, response %d", i, k+1), c.next(), w)
				}
				reset()
				if t.Failed() {
					t.Fatalf("stopping at split position %d", i)
				}
			}
			c.finish()
		})
	}
}

// scribbler claims StableData but overwrites the body a transition saw once
// Apply returns: a server that sends bodies from the store then sends the
// scribbled bytes. It shows which path a response took.
type scribbler struct{ backends.Backend }

func (s scribbler) StableData() bool { return true }

func (s scribbler) Apply(ctx context.Context, key string, fn backends.Transition) error {
	var seen []byte
	err := s.Backend.Apply(ctx, key, func(cur *backends.Record) backends.Change {
		if cur != nil {
			seen = cur.Data
		}
		return fn(cur)
	})
	if len(seen) > 0 && seen[0] == 'S' {
		copy(seen, strings.Repeat("X", len(seen))) // the test owns this store's bytes
	}
	return err
}

// TestBodiesSentOnlyAboveThreshold checks the path each body takes: a large
// body from a StableData backend is sent from the store (the scribbled bytes
// arrive), a small one is copied before the store can change it.
func TestBodiesSentOnlyAboveThreshold(t *testing.T) {
	h := newHarness(t, withBackend(func(b backends.Backend) backends.Backend { return scribbler{b} }))
	c := h.dial()
	small, large := "S"+bigBody("s", 99), "S"+bigBody("l", 2047)
	for _, body := range []string{small, large} {
		c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n", body), t200)
		wantBody := body
		if len(body) >= 512 {
			wantBody = strings.Repeat("X", len(body))
		}
		c.do(rq("GET", U1, "", ""), t200g(20, wantBody, false))
	}
	c.finish()
}

// Pipelined Gets of two large sessions of one size class, copied into
// pooled buffers: each buffer is reused only once its response is written,
// so each response carries its own session's bytes.
func TestPooledBodiesPipelined(t *testing.T) {
	h := newHarness(t, withBackend(func(b backends.Backend) backends.Backend { return hideStable{b} }))
	c := h.dial()
	x, y := bigBody("x", 100_000), bigBody("y", 100_001)
	for _, kv := range [][2]string{{U1, x}, {U2, y}} {
		c.do(rq("PUT", kv[0], "Timeout: 20\r\nContent-Length: "+strconv.Itoa(len(kv[1]))+"\r\n", kv[1]), t200)
	}
	get := func(u string) string { return rq("GET", u, "", "") }
	c.send(get(U1) + get(U2) + get(U1) + get(U2))
	c.expect(t200g(20, x, false), t200g(20, y, false), t200g(20, x, false), t200g(20, y, false))
	c.finish()
}
