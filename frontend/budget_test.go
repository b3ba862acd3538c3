package frontend_test

import (
	"context"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend"
)

// countingStore counts Apply calls. It hides memstore's StableData, so
// responses are built in the connection's buffer as for bbolt and Redis.
type countingStore struct {
	backends.Backend
	applies atomic.Int64
}

func (s *countingStore) Apply(ctx context.Context, key string, fn backends.Transition) error {
	s.applies.Add(1)
	return s.Backend.Apply(ctx, key, fn)
}

// issue 17: 30 pipelined GETs of a 4 MiB session from a client that does not
// read: the server stops handling them once a response waits to be written,
// instead of building all 30 responses (120 MiB) first. Every response still
// arrives, in order, once the client reads.
func TestPipelinedLargeGetsWaitForTheWriter(t *testing.T) {
	var cs *countingStore
	h := newHarness(t, withBackend(func(b backends.Backend) backends.Backend {
		cs = &countingStore{Backend: b}
		return cs
	}), withConfig(func(c *frontend.Config) { c.Limits.MaxBodyBytes = 8 << 20; c.WriteTimeout = 30 * time.Second }))
	c := h.dial()
	body := strings.Repeat("s", 4<<20)
	c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n", body), t200)
	before := cs.applies.Load()
	const n = 30
	c.send(strings.Repeat(rq("GET", U1, "", ""), n))
	// Wait until the server stops running requests (or has run them all).
	for last, deadline := int64(-1), time.Now().Add(10*time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		cur := cs.applies.Load()
		if cur == last || cur-before == n {
			break
		}
		last = cur
	}
	if got := cs.applies.Load() - before; got > 8 {
		t.Errorf("%d of %d pipelined GETs were run while the client read nothing: responses are queued without bound", got, n)
	}
	want := t200g(20, body, false)
	got := make([]byte, len(want))
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(c.nc, got); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("response %d: %q", i, abbrev(string(got)))
		}
	}
	c.finish()
}

// issue 17: a connection's buffer grows with the bytes that arrive, not with
// the Content-Length it declares: 40 connections declaring 4 MiB bodies and
// sending only their heads cost little memory.
func TestDeclaredBodyIsNotAllocated(t *testing.T) {
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.Limits.MaxBodyBytes = 8 << 20 }))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	const conns = 40
	head := rq("PUT", U1, "Timeout: 20\r\nContent-Length: "+strconv.Itoa(4<<20)+"\r\n", "0123456789")
	var cs []*client
	for i := 0; i < conns; i++ {
		c := h.dial()
		c.send(head)
		cs = append(cs, c)
	}
	// A request after them on one more connection: all heads are parsed.
	time.Sleep(200 * time.Millisecond)
	h.dial().do(rq("HEAD", U2, "", ""), t404)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapAlloc) - int64(base); grown > 16<<20 {
		t.Errorf("heap grew by %d MiB for %d heads declaring 4 MiB each: buffers follow the declared length", grown>>20, conns)
	}
	if got := h.srv.InflightBytes(); got > conns*(64<<10) {
		t.Errorf("InflightBytes = %d with only heads received", got)
	}
	for _, c := range cs {
		c.nc.Close()
	}
}

// issue 17: with limits.max_inflight_bytes taken by one large body in
// flight, a second large body that cannot get room is answered 400 and its
// connection closed after a short wait; a small request on another
// connection is answered at once meanwhile, and the first body completes.
func TestInflightBudgetRefusesWhatDoesNotFit(t *testing.T) {
	h := newHarness(t, withConfig(func(c *frontend.Config) {
		c.Limits.MaxBodyBytes = 1 << 20
		c.Limits.MaxInflightBytes = 1<<20 + 512<<10
	}))
	body := strings.Repeat("b", 1<<20)
	put := rq("PUT", U1, "Timeout: 20\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n", body)
	a := h.dial()
	a.send(put[:len(put)-100]) // holds about 1 MiB of the budget
	time.Sleep(200 * time.Millisecond)

	b := h.dial()
	b.send(put[:len(put)-100])

	small := h.dial()
	start := time.Now()
	small.do(rq("HEAD", U2, "", ""), t404)
	if el := time.Since(start); el > 200*time.Millisecond {
		t.Errorf("a small request took %v while the budget was exhausted", el)
	}
	if got := b.readToEOF(); got != t400 {
		t.Errorf("the request that found no room got %q, want a 400 and close", abbrev(got))
	}
	a.send(put[len(put)-100:])
	a.expect(t200)
	a.finish()
	if got := h.srv.InflightBytes(); got > 64<<10 {
		t.Errorf("InflightBytes = %d after the bodies were done", got)
	}
}
