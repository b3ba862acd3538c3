package lockcheck

import (
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
)

// Load describes a run of the ASP.NET cycle on counter sessions.
type Load struct {
	// Addrs are the gateways; client i starts on Addrs[i%len(Addrs)].
	Addrs []string
	// Targets are the sessions, which exist (stateclient.Insert) with counter 0.
	Targets []string
	Clients int
	// Duration bounds the run; MaxCycles (0: no limit) bounds each client's
	// acknowledged cycles, so that a fast machine keeps histories small.
	Duration  time.Duration
	MaxCycles int
	// Session picks client i's session (nil: (i/len(Addrs)) % len(Targets),
	// so that every session is reached through every gateway).
	Session func(client int) int
	// Failover: on a transport error the client moves to the next address
	// and finds out what became of its request (see the package doc). Without
	// it the client stops and reports the error.
	Failover bool
	// Backoff is the pause after a 423, plus up to as much again at random
	// (0: 1 ms). A longer one keeps the history of one busy session small
	// enough for porcupine.
	Backoff time.Duration
	// Think is a client's pause after each acknowledged cycle (0: none), as
	// a web server's page takes between requests: it spreads a bounded
	// number of cycles over a run long enough to span a fault.
	Think time.Duration
	// Base is the zero of the operations' times (zero: the start of the run).
	Base time.Time
}

// Failure is a transport error that a client survived by failing over.
type Failure struct {
	Client int
	Addr   string // the gateway it was talking to
	What   string
	At     time.Duration // since Base
	Err    error
}

// Result is what the clients saw.
type Result struct {
	Ops      []porcupine.Operation
	Grants   []Grant
	Acked    []int // per session: PUTs known to have been applied
	Retries  int   // acquires answered 423
	Errors   []error
	Failures []Failure
	Elapsed  time.Duration
}

// resolveLimit bounds the search for the fate of a request whose answer was
// lost; orphanAfter is how long a lock that no client claims must stay
// unchanged before the client whose acquire's answer was lost takes it as
// its own.
const (
	resolveLimit = 10 * time.Second
	orphanAfter  = time.Second
)

// registry is what the clients know together: the cookies granted to them
// and the calls of acquires whose answers were lost.
type registry struct {
	mu        sync.Mutex             // guards the maps
	granted   map[int]map[int32]bool // session -> cookies answered 200 (or claimed)
	ambiguous map[int]map[int64]bool // session -> call times of acquires with lost answers
}

func (r *registry) grant(s int, c int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.granted[s] == nil {
		r.granted[s] = map[int32]bool{}
	}
	if r.granted[s][c] {
		return false
	}
	r.granted[s][c] = true
	return true
}

func (r *registry) known(s int, c int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.granted[s][c]
}

func (r *registry) lost(s int, call int64, add bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ambiguous[s] == nil {
		r.ambiguous[s] = map[int64]bool{}
	}
	if add {
		r.ambiguous[s][call] = true
	} else {
		delete(r.ambiguous[s], call)
	}
}

// earliestLost is the first call among the lost acquires of session s: a
// lock granted by one of them was granted after it.
func (r *registry) earliestLost(s int, def int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := def
	for c := range r.ambiguous[s] {
		e = min(e, c)
	}
	return e
}

// RunCycles runs the load and returns the history. It never calls testing.T.
func RunCycles(l Load) Result {
	if l.Base.IsZero() {
		l.Base = time.Now()
	}
	if l.Session == nil {
		l.Session = func(i int) int { return (i / len(l.Addrs)) % len(l.Targets) }
	}
	reg := &registry{granted: map[int]map[int32]bool{}, ambiguous: map[int]map[int64]bool{}}
	start := time.Now()
	deadline := start.Add(l.Duration)
	ws := make([]*worker, l.Clients)
	var wg sync.WaitGroup
	for i := range ws {
		s := l.Session(i)
		w := &worker{id: i, l: &l, reg: reg, sess: s, u: l.Targets[s], addr: i % len(l.Addrs)}
		w.conn = &stateclient.Conn{Addr: l.Addrs[w.addr]}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.conn.Close()
			w.run(deadline)
		}()
	}
	wg.Wait()
	res := Result{Acked: make([]int, len(l.Targets)), Elapsed: time.Since(start)}
	for _, w := range ws {
		res.Ops = append(res.Ops, w.ops...)
		res.Grants = append(res.Grants, w.grants...)
		res.Retries += w.retries
		res.Failures = append(res.Failures, w.failures...)
		res.Acked[w.sess] += w.acked
		if w.err != nil {
			res.Errors = append(res.Errors, w.err)
		}
	}
	return res
}

type worker struct {
	id   int
	l    *Load
	reg  *registry
	sess int
	u    string
	addr int
	conn *stateclient.Conn

	ops      []porcupine.Operation
	grants   []Grant
	retries  int
	acked    int
	failures []Failure
	err      error
}

// held is a lock a worker holds, waiting for its PUT.
type held struct{ g Grant }

func (w *worker) stamp() int64 { return int64(time.Since(w.l.Base)) }

func (w *worker) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("client %d (%s, session %d): %s", w.id, w.conn.Addr, w.sess, fmt.Sprintf(format, args...))
	}
}

// do sends one request. On a transport error it records the failure and,
// with Failover, moves to the next gateway; ok is false.
func (w *worker) do(what string, req *wire.ClientRequest) (resp wire.ClientResponse, call, ret int64, ok bool) {
	call = w.stamp()
	resp, err := w.conn.Do(req)
	ret = w.stamp()
	if err != nil {
		if !w.l.Failover {
			w.fail("%s: %v (no fault was expected)", what, err)
			return resp, call, ret, false
		}
		w.failures = append(w.failures, Failure{Client: w.id, Addr: w.conn.Addr, What: what, At: time.Duration(ret), Err: err})
		w.conn.Close()
		w.addr = (w.addr + 1) % len(w.l.Addrs)
		w.conn = &stateclient.Conn{Addr: w.l.Addrs[w.addr]}
		return resp, call, ret, false
	}
	return resp, call, ret, true
}

func (w *worker) op(in In, out Out, call, ret int64) {
	in.Session = w.sess
	w.ops = append(w.ops, porcupine.Operation{ClientId: w.id, Input: in, Output: out, Call: call, Return: ret})
}

func (w *worker) run(deadline time.Time) {
	var h *held
	for cycles := 0; w.err == nil; {
		if h == nil {
			if (w.l.MaxCycles > 0 && cycles >= w.l.MaxCycles) || !time.Now().Before(deadline) {
				return
			}
			h = w.acquire()
			continue
		}
		var ok bool
		h, ok = w.put(h)
		if ok {
			cycles++
			if w.l.Think > 0 && h == nil {
				time.Sleep(w.l.Think)
			}
		}
	}
}

// onAcquire handles an answered acquire: a grant, or nil after a 423.
func (w *worker) onAcquire(resp wire.ClientResponse, call, ret int64) *held {
	switch resp.Status {
	case 423:
		w.op(In{Kind: Acquire}, Out{Status: 423, Cookie: resp.LockCookie.Value}, call, ret)
		w.retries++
		b := w.l.Backoff
		if b <= 0 {
			b = time.Millisecond
		}
		time.Sleep(b + mrand.N(2*b))
		return nil
	case 200:
	default:
		w.fail("acquire answered %d", resp.Status)
		return nil
	}
	n, err := ParseCounter(resp.Body)
	if err != nil || !resp.LockCookie.Present {
		w.fail("acquire 200 with cookie %v, blob %q: %v", resp.LockCookie, resp.Body, err)
		return nil
	}
	c := resp.LockCookie.Value
	if !w.reg.grant(w.sess, c) {
		w.fail("cookie %d was granted to another client too", c)
	}
	w.op(In{Kind: Acquire}, Out{Status: 200, Cookie: c, Counter: n}, call, ret)
	return &held{g: Grant{Session: w.sess, Cookie: c, Counter: n, AcqCall: call, AcqRet: ret, Written: n + 1,
		ActionFlagsOne: resp.ActionFlags.Present && resp.ActionFlags.Value == 1}}
}

// acquire sends a GetExclusive and returns the lock if granted.
func (w *worker) acquire() *held {
	resp, call, ret, ok := w.do("acquire", stateclient.Acquire(w.u))
	if !ok {
		if w.err != nil {
			return nil
		}
		return w.resolveAcquire(call)
	}
	return w.onAcquire(resp, call, ret)
}

// resolveAcquire finds out whether an acquire whose answer was lost was
// granted: a 200 or a lock some client claims means it was not; a lock that
// no client claims for orphanAfter was granted to it, and is released.
func (w *worker) resolveAcquire(lostCall int64) *held {
	w.reg.lost(w.sess, lostCall, true)
	defer w.reg.lost(w.sess, lostCall, false)
	var seen int32 = -1
	var since time.Time
	for end := time.Now().Add(resolveLimit); time.Now().Before(end); {
		resp, call, ret, ok := w.do("acquire (resolving a lost acquire)", stateclient.Acquire(w.u))
		if !ok {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if resp.Status != 423 {
			return w.onAcquire(resp, call, ret) // the lost one was not granted
		}
		x := resp.LockCookie.Value
		w.op(In{Kind: Acquire}, Out{Status: 423, Cookie: x}, call, ret)
		w.retries++
		if w.reg.known(w.sess, x) {
			return nil // held by a client that knows it: the lost one was not granted
		}
		if x != seen {
			seen, since = x, time.Now()
		}
		if time.Since(since) < orphanAfter {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		// Nobody claims x: the lost acquire was granted it. Take it and
		// release it (no write: the counter it read is unknown).
		if !w.reg.grant(w.sess, x) {
			return nil
		}
		w.op(In{Kind: Acquire}, Out{Status: 200, Cookie: x, Counter: -1}, w.reg.earliestLost(w.sess, lostCall), ret)
		g := Grant{Session: w.sess, Cookie: x, Counter: -1, AcqCall: lostCall, AcqRet: ret, Written: -1, PutCall: -1}
		for end := time.Now().Add(resolveLimit); time.Now().Before(end); {
			rresp, rcall, rret, ok := w.do("release of a lost grant", stateclient.Release(w.u, x))
			if g.PutCall < 0 {
				g.PutCall = rcall
			}
			if !ok {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			// 423: an earlier attempt released it and another client holds it now.
			if rresp.Status != 200 && rresp.Status != 423 {
				w.fail("release of lost grant %d answered %d", x, rresp.Status)
				return nil
			}
			g.PutRet, g.PutStatus = rret, 200
			w.op(In{Kind: Release, Cookie: x}, Out{Status: 200}, g.PutCall, rret)
			w.grants = append(w.grants, g)
			return nil
		}
		w.fail("could not release lost grant %d within %v", x, resolveLimit)
		return nil
	}
	w.fail("could not find out what became of a lost acquire within %v", resolveLimit)
	return nil
}

// put sends the holder's PUT. ok reports an acknowledged cycle. When the
// answer was lost, finding out may grant the lock again: that is returned.
func (w *worker) put(h *held) (next *held, ok bool) {
	g := h.g
	v := g.Written
	g.PutCall = w.stamp()
	resp, _, ret, sent := w.do("put", stateclient.Put(w.u, g.Cookie, CounterBlob(v)))
	if sent {
		g.PutRet, g.PutStatus = ret, resp.Status
		w.putDone(g, v)
		if resp.Status != 200 {
			w.fail("PUT with granted cookie %d answered %d", g.Cookie, resp.Status)
			return nil, false
		}
		return nil, true
	}
	if w.err != nil {
		return nil, false
	}
	// The answer was lost: a GetExclusive tells whether the PUT ran.
	firstCall := g.PutCall
	for end := time.Now().Add(resolveLimit); time.Now().Before(end); {
		aresp, call, aret, ok := w.do("acquire (resolving a lost PUT)", stateclient.Acquire(w.u))
		if !ok {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if aresp.Status == 423 && aresp.LockCookie.Value == g.Cookie {
			// Still locked by us: it did not run. Send it again.
			w.op(In{Kind: Acquire}, Out{Status: 423, Cookie: g.Cookie}, call, aret)
			g.PutCall = w.stamp()
			presp, _, pret, sent := w.do("put (again)", stateclient.Put(w.u, g.Cookie, CounterBlob(v)))
			if !sent {
				continue
			}
			g.PutRet, g.PutStatus = pret, presp.Status
			w.putDone(g, v)
			if presp.Status != 200 {
				w.fail("PUT with granted cookie %d (sent again) answered %d", g.Cookie, presp.Status)
				return nil, false
			}
			return nil, true
		}
		// Unlocked, or locked by another: it ran (the first or a later
		// sending), before this answer.
		g.PutCall, g.PutRet, g.PutStatus = firstCall, aret, 200
		w.putDone(g, v)
		if aresp.Status == 423 {
			w.op(In{Kind: Acquire}, Out{Status: 423, Cookie: aresp.LockCookie.Value}, call, aret)
			w.retries++
			return nil, true
		}
		return w.onAcquire(aresp, call, aret), true
	}
	w.fail("could not find out what became of a lost PUT within %v", resolveLimit)
	return nil, false
}

func (w *worker) putDone(g Grant, v int) {
	w.grants = append(w.grants, g)
	w.op(In{Kind: Set, Cookie: g.Cookie, Value: v}, Out{Status: g.PutStatus}, g.PutCall, g.PutRet)
	if g.PutStatus == 200 {
		w.acked++
	}
}
