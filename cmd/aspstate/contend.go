package main

// The contend scenario of aspstate bench: every connection on one session.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// contendState is the shared state of the contend scenario: every connection
// locks the same session, increments the 8-byte counter at the start of its
// blob and stores it with the cookie.
type contendState struct {
	target string
	base   time.Time
	acked  atomic.Int64 // Sets answered 200, warmup included

	mu   sync.Mutex // guards ring and hist
	ring [1024]handoffSlot
	hist histogram

	counter int64 // the counter found at the end
}

// handoffSlot pairs, for counter value c, the time the Set that wrote c was
// acknowledged and the time the next GetExclusive (which reads c) was
// answered. The two are observed by different goroutines in either order.
type handoffSlot struct {
	c        uint64
	rel, acq int64 // nanoseconds since base; 0 = not seen yet
	from     int64 // when the acquirer began asking (polling or held by the server)
	measured bool  // the acquire lies inside the window
}

// event records a release (the Set that wrote c acknowledged at t) or an
// acquire (the GetExclusive that read c answered at t, asked for since
// from). A pair is a hand-off when the acquirer was already asking when the
// lock was released: the latency is from the release to its 200.
func (st *contendState) event(c uint64, release bool, t, from time.Time, measured bool) {
	ns := t.Sub(st.base).Nanoseconds() + 1
	st.mu.Lock()
	s := &st.ring[c%uint64(len(st.ring))]
	if s.c != c {
		*s = handoffSlot{c: c}
	}
	if release {
		s.rel = ns
	} else {
		s.acq, s.measured = ns, measured
		s.from = from.Sub(st.base).Nanoseconds() + 1
	}
	if s.rel != 0 && s.acq != 0 && s.measured && s.from <= s.rel {
		st.hist.record(time.Duration(max(s.acq-s.rel, 0)))
	}
	st.mu.Unlock()
}

func (b *benchRun) setupContend(ctx context.Context, workers []*worker) error {
	if len(b.payload) < 8 {
		b.payload = make([]byte, 8)
	}
	binary.LittleEndian.PutUint64(b.payload, 0)
	st := &contendState{base: time.Now()}
	st.target = wire.ClientTarget(b.cfg.App, "contend"+strconv.FormatInt(time.Now().UnixNano()%1e17, 10))
	b.contend = st
	b.targets = []string{st.target}
	for _, w := range workers {
		w.own = []int{0}
		w.payload = make([]byte, len(b.payload))
		copy(w.payload, b.payload)
	}
	w := workers[0]
	if !w.connect(ctx) {
		return errors.New("setup: cannot connect")
	}
	w.set(st.target, locking.Num{Present: true, Valid: true}, b.payload)
	if ok, _ := w.do(opSet); !ok || w.resp.Status != 200 {
		return fmt.Errorf("setup: storing the contended session failed (status %d)", w.resp.Status)
	}
	return nil
}

// contendCycle polls GetExclusive until it holds the lock, then stores the
// incremented counter with the cookie.
func (w *worker) contendCycle(ctx context.Context) {
	st := w.b.contend
	w.req = wire.ClientRequest{Method: wire.MethodGet, Target: st.target, Host: w.b.cfg.Server, Exclusive: wire.ExclusiveAcquire}
	if w.waitFrom.IsZero() {
		w.waitFrom = time.Now()
	}
	ok, tAcq := w.do(opAcquire)
	if !ok {
		return
	}
	switch w.resp.Status {
	case 423:
		if w.b.cfg.Poll > 0 {
			time.Sleep(w.b.cfg.Poll)
		}
		return
	case 200:
	default:
		w.unexpected("GetExclusive")
		return
	}
	cookie := w.resp.LockCookie
	if !cookie.Present {
		w.b.errorf("conn %d: GetExclusive: 200 without LockCookie", w.id)
		return
	}
	if len(w.resp.Body) < 8 {
		w.b.errorf("conn %d: GetExclusive: %d-byte body, want the 8-byte counter", w.id, len(w.resp.Body))
		// Release, so that the others are not stuck behind this lock.
		w.req = wire.ClientRequest{Method: wire.MethodGet, Target: st.target, Host: w.b.cfg.Server,
			Exclusive: wire.ExclusiveRelease, LockCookie: cookie}
		w.do(opOther)
		return
	}
	c := binary.LittleEndian.Uint64(w.resp.Body)
	measured := !tAcq.Before(w.b.start) && !tAcq.After(w.b.end)
	st.event(c, false, tAcq, w.waitFrom, measured)
	w.waitFrom = time.Time{}
	binary.LittleEndian.PutUint64(w.payload, c+1)
	if w.b.cfg.Hold > 0 {
		time.Sleep(w.b.cfg.Hold)
	}
	w.set(st.target, cookie, w.payload)
	ok, tRel := w.do(opSet)
	if !ok {
		return
	}
	if w.resp.Status != 200 {
		w.unexpected("Set")
		return
	}
	st.acked.Add(1)
	if measured {
		w.cycles++
	}
	st.event(c+1, true, tRel, time.Time{}, false)
	if w.b.cfg.Think > 0 {
		time.Sleep(w.b.cfg.Think)
	}
}

// verifyContend reads the counter back: it must equal the number of Sets the
// server acknowledged.
func (b *benchRun) verifyContend(ctx context.Context) {
	st := b.contend
	c, err := dialClient(ctx, b.serverFor(0), b.cfg.NetTimeout)
	if err != nil {
		b.errorf("verify: %v", err)
		return
	}
	defer c.Close()
	req := wire.ClientRequest{Method: wire.MethodGet, Target: st.target, Host: b.cfg.Server}
	var resp wire.ClientResponse
	if err := c.roundTrip(&req, &resp); err != nil {
		b.errorf("verify: %v", err)
		return
	}
	if resp.Status != 200 || len(resp.Body) < 8 {
		b.errorf("verify: Get of the contended session: %d %s with %d bytes", resp.Status, resp.Reason, len(resp.Body))
		return
	}
	st.counter = int64(binary.LittleEndian.Uint64(resp.Body))
	if acked := st.acked.Load(); st.counter != acked {
		b.errorf("verify: the blob counter is %d but %d cycles were acknowledged: lost or phantom writes", st.counter, acked)
	}
}
