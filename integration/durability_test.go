package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
)

// The durability tests start the real binary on a bbolt file or a badger
// directory, drive it like web servers do (GetExclusive, then PUT or release
// with the cookie; sometimes the lock is left held for a while), stop it in
// the middle of that load (kill -9, or SIGTERM), start it again on the same
// path and check every session against what the clients were told. Each
// session belongs to one client goroutine, so its acknowledged state is known
// exactly; the one request in flight when the process died may or may not
// have been applied, and either outcome is accepted for it alone.

const (
	durWorkers        = 8
	durSessionsPer    = 8  // sessions owned by each worker
	durExpiredCount   = 16 // Timeout:1 sessions never touched after setup
	durBlobSize       = 1024
	durSessionTimeout = 20 // minutes, for the load's sessions
	durFullLoad       = 2500 * time.Millisecond
	durThrottle       = 50 * time.Millisecond // pause between requests before the full load
)

// durBackend is one durable store under test.
type durBackend struct {
	name string
	args func(dir string) []string
	// expirySlack is how long after a Timeout:1 session's deadline the store
	// may still have it on disk, such that a crash restart could bring it
	// back (from the store's doc.go), plus a margin.
	expirySlack time.Duration
}

var durBackends = []durBackend{
	{
		name: "bbolt",
		args: func(dir string) []string {
			return []string{"--backend.type", "bbolt", "--backend.bbolt.path", filepath.Join(dir, "aspstate.db"),
				"--backend.bbolt.flush_interval", "1s"}
		},
		// boltstore: the sweeper removes expired records from the file every
		// SweepInterval (1 s); a record still on file whose persisted deadline
		// is before the last flush (every flush_interval = 1 s while deadlines
		// move) stays dead after a crash. 2 s plus a 3 s margin.
		expirySlack: 5 * time.Second,
	},
	{
		name: "badger",
		args: func(dir string) []string {
			return []string{"--backend.type", "badger", "--backend.badger.path", filepath.Join(dir, "badger")}
		},
		// badgerstore: a crash restart restores the horizon (deadline + 1 min
		// for Timeout:1) unless the sweeper, which runs every 20 s, deleted
		// the record first. 20 s plus a 4 s margin; the one-minute horizon
		// would not fit the test's time budget.
		expirySlack: 24 * time.Second,
	},
}

// kill -9 in the middle of the load loses no acknowledged write or lock,
// repeats no cookie, and brings back no expired session.
func TestDurabilityKill9(t *testing.T) {
	for _, b := range durBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runDurability(t, b, syscall.SIGKILL, true)
		})
	}
}

// A clean SIGTERM restart in the middle of the load keeps everything too.
func TestDurabilityCleanRestart(t *testing.T) {
	for _, b := range durBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runDurability(t, b, syscall.SIGTERM, false)
		})
	}
}

// durRec is a session's state as its owner knows it.
type durRec struct {
	counter int   // the counter in the stored blob
	locked  bool  // held by a GetExclusive
	cookie  int32 // the stored LockCookie (the one handed out when locked)
}

func (r durRec) String() string {
	if r.locked {
		return fmt.Sprintf("{counter %d, locked, cookie %d}", r.counter, r.cookie)
	}
	return fmt.Sprintf("{counter %d, unlocked, cookie %d}", r.counter, r.cookie)
}

// durOp is a request sent without an answer yet, and the state it leads to.
type durOp struct {
	kind  string
	after durRec
}

type durSession struct {
	name     string
	target   string
	ack      durRec // last acknowledged state
	maxSeen  int32  // largest cookie any response carried for it
	inflight *durOp // request in flight when the process stopped, if any
}

func (s *durSession) String() string {
	if s.inflight != nil {
		return fmt.Sprintf("%s: acknowledged %v, in flight %s -> %v", s.name, s.ack, s.inflight.kind, s.inflight.after)
	}
	return fmt.Sprintf("%s: acknowledged %v, nothing in flight", s.name, s.ack)
}

// durBlob is the session blob for counter n: a header naming the session and
// the counter, padded to durBlobSize.
func durBlob(name string, n int) []byte {
	b := make([]byte, 0, durBlobSize)
	b = fmt.Appendf(b, "%s#%010d#", name, n)
	for len(b) < durBlobSize {
		b = append(b, byte('a'+len(b)%26))
	}
	return b
}

// durCounter parses a blob written by durBlob for session name.
func durCounter(name string, body []byte) (int, error) {
	want := durBlob(name, 0)
	if len(body) != durBlobSize {
		return 0, fmt.Errorf("blob of %d bytes, want %d", len(body), durBlobSize)
	}
	prefix := name + "#"
	hdr := len(prefix) + 11
	if !strings.HasPrefix(string(body), prefix) || body[hdr-1] != '#' || string(body[hdr:]) != string(want[hdr:]) {
		return 0, fmt.Errorf("blob %.60q... is not this session's", body)
	}
	n, err := strconv.Atoi(string(body[len(prefix) : hdr-1]))
	if err != nil {
		return 0, fmt.Errorf("blob counter %q: %v", body[len(prefix):hdr-1], err)
	}
	return n, nil
}

func durAcquire(target string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: target, Exclusive: wire.ExclusiveAcquire}
}

func durRelease(target string, cookie int32) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: target, Exclusive: wire.ExclusiveRelease, LockCookie: num(cookie)}
}

func durPut(s *durSession, cookie int32, n int) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodPut, Target: s.target, Timeout: num(durSessionTimeout),
		LockCookie: num(cookie), Body: durBlob(s.name, n)}
}

// errDurStopped marks a transport error after the test stopped the process.
var errDurStopped = errors.New("process stopped")

// durWorker drives its own sessions over one connection.
type durWorker struct {
	c        *client
	sessions []*durSession
	rng      *rand.Rand
	stopped  *atomic.Bool  // set just before the process is signalled
	answered *atomic.Int64 // requests answered, all workers
	acked    int           // requests answered
	cycles   int           // GetExclusive -> PUT cycles completed
}

// send sends req for s, checks the answer and records after as acknowledged.
func (w *durWorker) send(s *durSession, kind string, req *wire.ClientRequest, after durRec, check func(wire.ClientResponse) error) error {
	s.inflight = &durOp{kind: kind, after: after}
	resp, err := w.c.try(req)
	if err != nil {
		if w.stopped.Load() {
			return errDurStopped
		}
		return fmt.Errorf("%s %s before the process was stopped: %v", kind, s.name, err)
	}
	if err := check(resp); err != nil {
		return fmt.Errorf("%s %s (state %v): %v", kind, s.name, s.ack, err)
	}
	s.ack, s.inflight = after, nil
	s.maxSeen = max(s.maxSeen, after.cookie)
	w.acked++
	w.answered.Add(1)
	return nil
}

func wantStatus(resp wire.ClientResponse, status int) error {
	if resp.Status != status {
		return fmt.Errorf("status %d, want %d", resp.Status, status)
	}
	return nil
}

// step sends one request (or an acquire and its PUT) for s.
func (w *durWorker) step(s *durSession) error {
	st := s.ack
	p := w.rng.IntN(10)
	if st.locked {
		switch {
		case p < 6: // the page ends with a write
			after := durRec{counter: st.counter + 1, cookie: st.cookie}
			if err := w.send(s, "PUT", durPut(s, st.cookie, after.counter), after,
				func(r wire.ClientResponse) error { return wantStatus(r, 200) }); err != nil {
				return err
			}
			w.cycles++
			return nil
		case p < 9: // the page ends without a write
			after := durRec{counter: st.counter, cookie: st.cookie}
			return w.send(s, "release", durRelease(s.target, st.cookie), after,
				func(r wire.ClientResponse) error { return wantStatus(r, 200) })
		default: // another request polls the lock
			return w.send(s, "acquire(locked)", durAcquire(s.target), st, func(r wire.ClientResponse) error {
				if r.Status != 423 || r.LockCookie.Value != st.cookie {
					return fmt.Errorf("status %d cookie %d, want 423 with cookie %d", r.Status, r.LockCookie.Value, st.cookie)
				}
				return nil
			})
		}
	}
	switch {
	case p < 7:
		after := durRec{counter: st.counter, locked: true, cookie: st.cookie + 1}
		if err := w.send(s, "acquire", durAcquire(s.target), after, func(r wire.ClientResponse) error {
			if r.Status != 200 || r.LockCookie.Value != after.cookie {
				return fmt.Errorf("status %d cookie %d, want 200 with cookie %d", r.Status, r.LockCookie.Value, after.cookie)
			}
			if n, err := durCounter(s.name, r.Body); err != nil || n != st.counter {
				return fmt.Errorf("blob counter %d (%v), want %d", n, err, st.counter)
			}
			return nil
		}); err != nil {
			return err
		}
		if w.rng.IntN(5) == 0 {
			return nil // leave it locked for a later step
		}
		put := durRec{counter: after.counter + 1, cookie: after.cookie}
		if err := w.send(s, "PUT", durPut(s, after.cookie, put.counter), put,
			func(r wire.ClientResponse) error { return wantStatus(r, 200) }); err != nil {
			return err
		}
		w.cycles++
		return nil
	case p < 9: // a read-only page
		return w.send(s, "GET", &wire.ClientRequest{Method: wire.MethodGet, Target: s.target}, st, func(r wire.ClientResponse) error {
			if r.Status != 200 || r.LockCookie.Present {
				return fmt.Errorf("status %d cookie %v, want 200 without cookie", r.Status, r.LockCookie)
			}
			if n, err := durCounter(s.name, r.Body); err != nil || n != st.counter {
				return fmt.Errorf("blob counter %d (%v), want %d", n, err, st.counter)
			}
			return nil
		})
	default: // a page that needs no session
		return w.send(s, "HEAD", &wire.ClientRequest{Method: wire.MethodHead, Target: s.target}, st,
			func(r wire.ClientResponse) error { return wantStatus(r, 200) })
	}
}

// run loops until stop is closed or the process is gone. Before fast is
// set it pauses between requests.
func (w *durWorker) run(fast *atomic.Bool, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if !fast.Load() {
			select {
			case <-stop:
				return nil
			case <-time.After(durThrottle):
			}
		}
		err := w.step(w.sessions[w.rng.IntN(len(w.sessions))])
		if errors.Is(err, errDurStopped) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func runDurability(t *testing.T, b durBackend, sig syscall.Signal, withExpired bool) {
	dir := t.TempDir()
	args := b.args(dir)
	g := startGateway(t, args...)
	seed := uint64(time.Now().UnixNano())
	t.Logf("%s: seed %d, %d workers x %d sessions", b.name, seed, durWorkers, durSessionsPer)

	// Sessions that expire while the load runs: created with Timeout 1 and
	// never touched again; every other one is left locked.
	setup := dial(t, g.Addr)
	var expired []string
	if withExpired {
		for i := range durExpiredCount {
			u := target(fmt.Sprintf("expire%02d%s", i, strings.Repeat("e", 16)))
			expired = append(expired, u)
			if r := setup.do(&wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: num(1), Body: durBlob("expired", i)}); r.Status != 200 {
				t.Fatalf("PUT of Timeout:1 session: status %d", r.Status)
			}
			if i%2 == 1 {
				if r := setup.do(durAcquire(u)); r.Status != 200 || r.LockCookie.Value != 2 {
					t.Fatalf("acquire of Timeout:1 session: status %d cookie %d", r.Status, r.LockCookie.Value)
				}
			}
		}
	}
	expiredAt := time.Now().Add(time.Minute) // every Timeout:1 deadline is before this

	// The load's sessions, each owned by one worker.
	var stopped, fast atomic.Bool
	var answered atomic.Int64
	workers := make([]*durWorker, durWorkers)
	var all []*durSession
	for i := range workers {
		w := &durWorker{c: dial(t, g.Addr), rng: rand.New(rand.NewPCG(seed, uint64(i))), stopped: &stopped, answered: &answered}
		for j := range durSessionsPer {
			name := fmt.Sprintf("w%dsession%02d%s", i, j, strings.Repeat("x", 12))
			s := &durSession{name: name, target: target(name), ack: durRec{cookie: 1}, maxSeen: 1}
			if r := setup.do(&wire.ClientRequest{Method: wire.MethodPut, Target: s.target, Timeout: num(durSessionTimeout), Body: durBlob(name, 0)}); r.Status != 200 {
				t.Fatalf("PUT of a new session: status %d", r.Status)
			}
			w.sessions = append(w.sessions, s)
			all = append(all, s)
		}
		workers[i] = w
	}

	stop := make(chan struct{})
	errs := make([]error, durWorkers)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { errs[i] = w.run(&fast, stop) })
	}
	var stopOnce sync.Once
	closeStop := func() { stopOnce.Do(func() { close(stop) }) }
	t.Cleanup(func() { // runs before the gateway's cleanup kills it
		stopped.Store(true)
		closeStop()
		wg.Wait()
	})

	// Throttled load until the Timeout:1 sessions are well past every
	// documented slack, then full load, then the signal in the middle of it.
	stopAt := time.Now().Add(durFullLoad)
	if withExpired {
		stopAt = expiredAt.Add(b.expirySlack)
	}
	fullAt := stopAt.Add(-durFullLoad)
	time.Sleep(time.Until(fullAt))
	ackedBefore := answered.Load()
	fast.Store(true)
	time.Sleep(time.Until(stopAt))
	stopped.Store(true)
	stopTime := time.Now()
	code := g.stop(sig)
	// The workers see the closed connections; each request has a 10 s deadline.
	closeStop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("load workers did not stop within 30s of %v", sig)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if sig == syscall.SIGKILL {
		ws, ok := g.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("process did not die of SIGKILL: %v", g.cmd.ProcessState)
		}
	} else if code != 0 {
		t.Fatalf("exit code %d after %v, want 0\n%s", code, sig, g.Logs())
	}
	if t.Failed() {
		t.FailNow()
	}

	acked, cycles, locked, inflight := int64(0), 0, 0, 0
	for _, w := range workers {
		acked += int64(w.acked)
		cycles += w.cycles
	}
	for _, s := range all {
		if s.ack.locked {
			locked++
		}
		if s.inflight != nil {
			inflight++
		}
	}
	t.Logf("%s: %v after %d acknowledged requests (%d in the last %v at full load), %d GetExclusive->PUT cycles; "+
		"at the stop %d of %d sessions locked, %d requests in flight; process gone and workers stopped %v after the signal (a -race binary sleeps 1 s at a normal exit)",
		b.name, sig, acked, acked-ackedBefore, durFullLoad, cycles, locked, len(all), inflight, time.Since(stopTime).Round(time.Millisecond))

	restartAt := time.Now()
	g2 := startGateway(t, args...)
	t.Logf("%s: restarted and listening after %v", b.name, time.Since(restartAt).Round(time.Millisecond))

	c := dial(t, g2.Addr)
	if withExpired {
		late := time.Since(expiredAt)
		for _, u := range expired {
			if r := c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: u}); r.Status != 404 {
				t.Errorf("%s: Timeout:1 session %s, expired %v before the restart check: GET status %d, want 404",
					b.name, u, late.Round(time.Second), r.Status)
			}
			if r := c.do(&wire.ClientRequest{Method: wire.MethodHead, Target: u}); r.Status != 404 {
				t.Errorf("%s: Timeout:1 session %s: HEAD status %d, want 404", b.name, u, r.Status)
			}
		}
		t.Logf("%s: %d Timeout:1 sessions, expired %v before the kill, are gone after the restart",
			b.name, len(expired), stopAt.Sub(expiredAt).Round(time.Second))
	}
	verified, heldLocks := 0, 0
	for i, s := range all {
		ok, held := durVerify(t, c, s, i)
		if ok {
			verified++
		}
		if held {
			heldLocks++
		}
	}
	t.Logf("%s: %d of %d sessions verified after the restart; %d were still locked and were released, written or removed with their cookie",
		b.name, verified, len(all), heldLocks)
}

// durVerify checks one session after the restart against its acknowledged
// state (or the state its in-flight request would have left), then uses it as
// the next web server would. It reports whether everything matched, and
// whether the session was found locked.
func durVerify(t *testing.T, c *client, s *durSession, i int) (ok, held bool) {
	ok = durVerifyOne(t, c, s, i, &held)
	return ok, held
}

func durVerifyOne(t *testing.T, c *client, s *durSession, i int, held *bool) bool {
	t.Helper()
	cands := []durRec{s.ack}
	if s.inflight != nil {
		cands = append(cands, s.inflight.after)
	}
	fail := func(format string, args ...any) bool {
		t.Errorf("%v: %s", s, fmt.Sprintf(format, args...))
		return false
	}
	// acquired checks a 200 to GetExclusive: counter and a never-seen cookie.
	acquired := func(r wire.ClientResponse, wantCounter int, wantCookie int32) (durRec, bool) {
		if r.Status != 200 {
			return durRec{}, fail("GetExclusive: status %d, want 200", r.Status)
		}
		n, err := durCounter(s.name, r.Body)
		if err != nil || n != wantCounter {
			return durRec{}, fail("GetExclusive: blob counter %d (%v), want %d", n, err, wantCounter)
		}
		if r.LockCookie.Value <= s.maxSeen {
			return durRec{}, fail("GetExclusive handed out cookie %d again (largest seen before: %d)", r.LockCookie.Value, s.maxSeen)
		}
		if r.LockCookie.Value != wantCookie {
			return durRec{}, fail("GetExclusive: cookie %d, want %d", r.LockCookie.Value, wantCookie)
		}
		if r.Timeout.Value != durSessionTimeout {
			return durRec{}, fail("GetExclusive: Timeout %d, want %d", r.Timeout.Value, durSessionTimeout)
		}
		s.maxSeen = r.LockCookie.Value
		return durRec{counter: n, locked: true, cookie: r.LockCookie.Value}, true
	}

	var cur durRec
	r := c.do(durAcquire(s.target))
	switch r.Status {
	case 404:
		return fail("GetExclusive: 404, the session is lost")
	case 200:
		n, _ := durCounter(s.name, r.Body)
		var match *durRec
		for k := range cands {
			if !cands[k].locked && cands[k].counter == n && cands[k].cookie+1 == r.LockCookie.Value {
				match = &cands[k]
				break
			}
		}
		if match == nil {
			return fail("GetExclusive: 200 with counter %d and cookie %d, which no acknowledged state allows", n, r.LockCookie.Value)
		}
		var ok bool
		if cur, ok = acquired(r, match.counter, match.cookie+1); !ok {
			return false
		}
	case 423:
		k := r.LockCookie.Value
		var match *durRec
		for j := range cands {
			if cands[j].locked && cands[j].cookie == k {
				match = &cands[j]
				break
			}
		}
		if match == nil {
			return fail("GetExclusive: 423 with cookie %d, which no acknowledged state allows", k)
		}
		s.maxSeen = max(s.maxSeen, k)
		*held = true
		// The web server that holds cookie k goes on with it.
		switch i % 3 {
		case 0:
			if r := c.do(durRelease(s.target, k)); r.Status != 200 {
				return fail("release with cookie %d: status %d, want 200", k, r.Status)
			}
			var ok bool
			if cur, ok = acquired(c.do(durAcquire(s.target)), match.counter, k+1); !ok {
				return false
			}
		case 1:
			if r := c.do(durPut(s, k, match.counter+1)); r.Status != 200 {
				return fail("PUT with cookie %d: status %d, want 200", k, r.Status)
			}
			var ok bool
			if cur, ok = acquired(c.do(durAcquire(s.target)), match.counter+1, k+1); !ok {
				return false
			}
		case 2:
			if r := c.do(&wire.ClientRequest{Method: wire.MethodDelete, Target: s.target, LockCookie: num(k)}); r.Status != 200 {
				return fail("DELETE with cookie %d: status %d, want 200", k, r.Status)
			}
			if r := c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: s.target}); r.Status != 404 {
				return fail("GET after DELETE: status %d, want 404", r.Status)
			}
			return true
		}
	default:
		return fail("GetExclusive: status %d", r.Status)
	}

	// Locked by us now: write with the cookie and read it back.
	if r := c.do(durPut(s, cur.cookie, cur.counter+1)); r.Status != 200 {
		return fail("PUT with cookie %d: status %d, want 200", cur.cookie, r.Status)
	}
	r = c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: s.target})
	if n, err := durCounter(s.name, r.Body); r.Status != 200 || err != nil || n != cur.counter+1 {
		return fail("GET after the PUT: status %d counter %d (%v), want 200 and %d", r.Status, n, err, cur.counter+1)
	}
	return true
}
