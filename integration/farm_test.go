package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/lockcheck"
	"github.com/aspstate/aspstate/internal/stateclient"
)

// Tests of a Redis-backed farm: several aspstated processes sharing one real
// redis-server, spoken to over real TCP. See farm_helpers_test.go for the
// lock model and the grant checker.

const (
	farmGateways       = 3
	farmSessions       = 3
	farmClients        = 32
	farmRun            = 5 * time.Second // load duration
	farmMaxCycles      = 60              // per client, so that a fast machine keeps histories small
	farmCheckerTimeout = 30 * time.Second
)

func redisGateway(t *testing.T, addr string) *gateway {
	t.Helper()
	return startGateway(t, "--backend.type", "redis", "--backend.redis.addrs", addr)
}

// Locks hold across gateways: 32 web servers run the ASP.NET cycle
// (GetExclusive, then PUT with the cookie; on 423 retry) on three shared
// counter sessions through three gateways (lockcheck.RunCycles). The lock
// history must be linearizable, the final counters must equal the
// acknowledged cycles, no cookie is granted twice, and ActionFlags: 1 is
// reported once per session.
func TestFarmLocksAcrossGateways(t *testing.T) {
	r := redistest.Start(t)
	gws := make([]*gateway, farmGateways)
	addrs := make([]string, farmGateways)
	for i := range gws {
		gws[i] = redisGateway(t, r.Addr())
		addrs[i] = gws[i].Addr
	}
	targets := make([]string, farmSessions)
	setup := dial(t, gws[0].Addr)
	for s := range targets {
		targets[s] = target(fmt.Sprintf("farmcounter%02dxxxxxxxxxxxxxx", s))
		// What a web server sends for a new session: an uninitialized item.
		if resp := setup.do(stateclient.Insert(targets[s])); resp.Status != 200 {
			t.Fatalf("session %d: uninitialized PUT answered %d", s, resp.Status)
		}
	}

	res := lockcheck.RunCycles(lockcheck.Load{Addrs: addrs, Targets: targets, Clients: farmClients,
		Duration: farmRun, MaxCycles: farmMaxCycles})
	for _, err := range res.Errors {
		t.Error(err)
	}
	grantsPer := make([]int, farmSessions)
	actionFlags := make([][]int32, farmSessions)
	for _, g := range res.Grants {
		grantsPer[g.Session]++
		if g.ActionFlagsOne {
			actionFlags[g.Session] = append(actionFlags[g.Session], g.Cookie)
		}
	}
	t.Logf("%d clients, %d gateways, %d sessions, %v: %d grants (per session %v), %d acknowledged cycles (per session %v), %d answers 423, %d operations recorded",
		farmClients, farmGateways, farmSessions, res.Elapsed.Round(time.Millisecond), len(res.Grants), grantsPer, sum(res.Acked), res.Acked, res.Retries, len(res.Ops))
	if t.Failed() {
		t.FailNow()
	}

	// Final counters, read with a plain GET through each gateway.
	for s, u := range targets {
		for gi, g := range gws {
			c := dial(t, g.Addr)
			resp := c.do(stateclient.Get(u))
			n, err := lockcheck.ParseCounter(resp.Body)
			if resp.Status != 200 || err != nil || n != res.Acked[s] {
				t.Errorf("session %d via gateway %d: GET answered %d blob %q (%v); want counter %d = acknowledged cycles",
					s, gi, resp.Status, resp.Body, err, res.Acked[s])
			}
		}
		if len(actionFlags[s]) != 1 || actionFlags[s][0] != 2 {
			t.Errorf("session %d: ActionFlags: 1 reported on the grants with cookies %v, want exactly once, on the first grant (cookie 2)", s, actionFlags[s])
		}
		if grantsPer[s] == 0 {
			t.Errorf("session %d: never granted", s)
		}
	}

	// Direct check of the grants.
	for _, v := range lockcheck.CheckGrants(res.Grants, 0) {
		t.Error(v)
	}

	// Linearizability of the whole history.
	checkStart := time.Now()
	pres, info := porcupine.CheckOperationsVerbose(lockcheck.Model, res.Ops, farmCheckerTimeout)
	t.Logf("porcupine: %s in %v", pres, time.Since(checkStart).Round(time.Millisecond))
	switch pres {
	case porcupine.Ok:
	case porcupine.Illegal:
		t.Errorf("the lock history is not linearizable (two holders at once, a reused cookie, a lost write or a wrong 423)%s", visualize(t, info))
	default:
		t.Errorf("porcupine could not decide within %v (%s): treat as a failure; the history has %d operations", farmCheckerTimeout, pres, len(res.Ops))
	}
}

// visualize writes porcupine's HTML view of a failed check to a file that
// outlives the test and returns a note naming it.
func visualize(t *testing.T, info porcupine.LinearizationInfo) string {
	dir, err := os.MkdirTemp("", "farm-porcupine")
	if err != nil {
		return ""
	}
	path := filepath.Join(dir, "history.html")
	if err := porcupine.VisualizePath(lockcheck.Model, info, path); err != nil {
		t.Logf("visualization: %v", err)
		return ""
	}
	return "; visualization: " + path
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// outcome is one request of the outage test, as a worker saw it.
type outcome struct {
	worker    int
	what      string
	call, ret time.Time
	status    int // 0: transport error (closed, reset, timed out)
	err       error
}

// Redis stalls (SIGSTOP) and restarts under load through two gateways. While
// Redis cannot answer, a web server gets either a correct answer or a closed
// connection: never a 404 for a session that exists, never a 200 for a write
// that is not stored. Within 2 s of Redis being back, requests succeed again
// without restarting the gateways, and the gateways log the outage.
func TestFarmRedisOutage(t *testing.T) {
	const (
		readers   = 4
		writers   = 4
		recovered = 2 * time.Second // the deadline
		// The gateway gives up on a Redis command after its read timeout (1 s)
		// and on an operation after op_timeout (3 s): during a 2 s stall some
		// requests wait it out and some are closed; a 4 s stall outlasts both,
		// so closed connections and the log lines are certain.
		// pauseMargin covers the delivery of SIGSTOP after kill(2) returns.
		pauseMargin = 50 * time.Millisecond
	)
	r := redistest.Start(t)
	gws := []*gateway{redisGateway(t, r.Addr()), redisGateway(t, r.Addr())}
	known := func(i int) []byte { return []byte(fmt.Sprintf("known session %d contents", i)) }
	seqBlob := func(k int) []byte { return []byte(fmt.Sprintf("seq=%d", k)) }
	readerU := func(i int) string { return target(fmt.Sprintf("outagereader%02dxxxxxxxxxxxx", i)) }
	writerU := func(i int) string { return target(fmt.Sprintf("outagewriter%02dxxxxxxxxxxxx", i)) }
	setup := dial(t, gws[0].Addr)
	for i := range readers {
		if resp := setup.do(stateclient.Put(readerU(i), -1, known(i))); resp.Status != 200 {
			t.Fatalf("setup PUT: %d", resp.Status)
		}
	}
	for i := range writers {
		if resp := setup.do(stateclient.Put(writerU(i), -1, seqBlob(0))); resp.Status != 200 {
			t.Fatalf("setup PUT: %d", resp.Status)
		}
	}

	// Phase boundaries, written by the test goroutine before the workers read
	// them (under phaseMu).
	var phaseMu sync.Mutex
	var dataLossFrom time.Time // requests called after this may find Redis empty
	mayBeLost := func(call time.Time) bool {
		phaseMu.Lock()
		defer phaseMu.Unlock()
		return !dataLossFrom.IsZero() && !call.Before(dataLossFrom)
	}

	type workerRec struct {
		outcomes   []outcome
		violations []string
		// writers: the highest value acknowledged with 200 and the highest
		// sent; what Redis holds must lie between them.
		lastAcked, lastSent int
		forced              int // orphaned locks released with the 423's cookie
	}
	recs := make([]workerRec, readers+writers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range readers + writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &recs[w]
			fc := &stateclient.Conn{Addr: gws[w%2].Addr}
			defer fc.Close()
			do := func(what string, req *wire.ClientRequest) (wire.ClientResponse, bool, time.Time) {
				call := time.Now()
				resp, err := fc.Do(req)
				o := outcome{worker: w, what: what, call: call, ret: time.Now(), status: resp.Status, err: err}
				if err != nil {
					o.status = 0
				}
				rec.outcomes = append(rec.outcomes, o)
				return resp, err == nil, call
			}
			bad := func(format string, args ...any) {
				rec.violations = append(rec.violations, fmt.Sprintf("worker %d: ", w)+fmt.Sprintf(format, args...))
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				ok := false
				if w < readers {
					i := w
					resp, answered, call := do("get", stateclient.Get(readerU(i)))
					ok = answered
					switch {
					case !answered:
					case resp.Status == 200 && bytes.Equal(resp.Body, known(i)):
					case resp.Status == 404 && mayBeLost(call):
						// Redis restarted empty: start the session again, as a
						// web server would.
						if presp, answered, _ := do("put", stateclient.Put(readerU(i), -1, known(i))); answered && presp.Status != 200 {
							bad("re-creating the session: PUT answered %d", presp.Status)
						}
					default:
						bad("GET of an existing session answered %d with %q", resp.Status, resp.Body)
					}
				} else {
					i := w - readers
					u := writerU(i)
					resp, answered, call := do("acquire", stateclient.Acquire(u))
					ok = answered
					switch {
					case !answered:
					case resp.Status == 200:
						var k int
						if _, err := fmt.Sscanf(string(resp.Body), "seq=%d", &k); err != nil {
							bad("acquire: blob %q", resp.Body)
							break
						}
						if k < rec.lastAcked || k > rec.lastSent {
							bad("acquire read seq=%d; the last acknowledged PUT wrote %d, the last sent %d", k, rec.lastAcked, rec.lastSent)
						}
						rec.lastSent++
						presp, answered, _ := do("put", stateclient.Put(u, resp.LockCookie.Value, seqBlob(rec.lastSent)))
						switch {
						case !answered:
						case presp.Status == 200:
							rec.lastAcked = rec.lastSent
						default:
							bad("the holder's PUT answered %d", presp.Status)
						}
					case resp.Status == 423:
						// Only this worker uses the session: the lock is its own,
						// from a GetExclusive whose answer was lost. Release it
						// with the 423's cookie, as ASP.NET does once the lock is
						// older than its execution timeout.
						rec.forced++
						do("release", stateclient.Release(u, resp.LockCookie.Value))
					case resp.Status == 404 && mayBeLost(call):
						rec.lastSent++
						if presp, answered, _ := do("put", stateclient.Put(u, -1, seqBlob(rec.lastSent))); answered {
							if presp.Status == 200 {
								rec.lastAcked = rec.lastSent
							} else {
								bad("re-creating the session: PUT answered %d", presp.Status)
							}
						}
					default:
						bad("acquire of an existing session answered %d", resp.Status)
					}
				}
				if ok {
					time.Sleep(2 * time.Millisecond)
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	// pollRecovery sends a PUT and a GET of a probe session through gw on a
	// new connection every 20 ms until both are answered correctly, and
	// returns how long after from that was.
	pollRecovery := func(gi int, from time.Time, limit time.Duration) (time.Duration, error) {
		u := target(fmt.Sprintf("outageprobe%dxxxxxxxxxxxxxxx", gi))
		var last error
		for n := 0; time.Since(from) < limit; n++ {
			fc := &stateclient.Conn{Addr: gws[gi].Addr}
			body := []byte(fmt.Sprintf("probe %d", n))
			presp, err := fc.Do(stateclient.Put(u, -1, body))
			if err == nil && presp.Status == 200 {
				var gresp wire.ClientResponse
				gresp, err = fc.Do(stateclient.Get(u))
				if err == nil && gresp.Status == 200 && bytes.Equal(gresp.Body, body) {
					fc.Close()
					return time.Since(from), nil
				}
				if err == nil {
					fc.Close()
					return 0, fmt.Errorf("GET after an acknowledged PUT answered %d %q", gresp.Status, gresp.Body)
				}
			} else if err == nil {
				fc.Close()
				return 0, fmt.Errorf("PUT answered %d", presp.Status)
			}
			fc.Close()
			last = err
			time.Sleep(20 * time.Millisecond)
		}
		return 0, fmt.Errorf("no success within %v; last error: %v", limit, last)
	}
	waitRecovered := func(phase string, from time.Time) {
		t.Helper()
		var wg sync.WaitGroup
		for gi := range gws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := pollRecovery(gi, from, 10*time.Second)
				if err != nil {
					t.Errorf("%s: gateway %d: %v", phase, gi, err)
					return
				}
				t.Logf("%s: gateway %d answered correctly %v after Redis was back", phase, gi, d.Round(time.Millisecond))
				if d >= recovered {
					t.Errorf("%s: gateway %d took %v to answer after Redis was back, want < %v", phase, gi, d, recovered)
				}
			}()
		}
		wg.Wait()
	}

	// outage runs one fault for d while fresh requests probe the gateways,
	// repairs it, waits for both gateways to answer again and, when
	// closedWanted, checks that each logged the failure and the recovery (a
	// short stall may be ridden out without any failure).
	type window struct {
		name         string
		from, to     time.Time // requests sent in [from, to) and finished by to must be closed
		closedWanted bool
	}
	var windows []window
	var probes sync.WaitGroup
	var probeMu sync.Mutex // guards probeOut
	var probeOut []outcome
	outage := func(name string, d time.Duration, closedWanted bool, fault func() time.Time, repair func()) {
		t.Helper()
		marks := make([]int, len(gws))
		for gi, g := range gws {
			marks[gi] = len(g.Logs())
		}
		from := fault()
		// Besides the workers, which are blocked in requests sent before
		// the fault, fresh connections send a request every 100 ms.
		for n, end := 0, from.Add(d); time.Now().Before(end); n++ {
			probes.Add(1)
			go func() {
				defer probes.Done()
				fc := &stateclient.Conn{Addr: gws[n%len(gws)].Addr}
				defer fc.Close()
				call := time.Now()
				resp, err := fc.Do(stateclient.Get(readerU(0)))
				o := outcome{worker: -1, what: "probe get", call: call, ret: time.Now(), status: resp.Status, err: err}
				if err != nil {
					o.status = 0
				} else if !(resp.Status == 200 && bytes.Equal(resp.Body, known(0))) && !(resp.Status == 404 && mayBeLost(call)) {
					t.Errorf("probe: GET of an existing session sent during the outage answered %d %q", resp.Status, resp.Body)
				}
				probeMu.Lock()
				probeOut = append(probeOut, o)
				probeMu.Unlock()
			}()
			time.Sleep(100 * time.Millisecond)
		}
		to := time.Now()
		repair()
		windows = append(windows, window{name, from, to, closedWanted})
		waitRecovered(name, time.Now())
		if !closedWanted {
			return
		}
		for gi, g := range gws {
			var logs string
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if logs = g.Logs()[marks[gi]:]; strings.Contains(logs, "redis is answering again") {
					break
				}
			}
			// The failed requests themselves are logged once per interval
			// with a count (frontend's rateLog), so a phase may add no line
			// of its own; the whole run's log is checked for them below.
			for _, want := range []string{"redis is not answering", "redis is answering again"} {
				if !strings.Contains(logs, want) {
					t.Errorf("%s: gateway %d: its log does not mention %q", name, gi, want)
				}
			}
		}
	}
	pause := func() time.Time { r.Pause(); return time.Now().Add(pauseMargin) }

	time.Sleep(700 * time.Millisecond)
	// A stall shorter than the gateway's operation timeout: requests wait.
	outage("stalled briefly", 2*time.Second, false, pause, r.Resume)
	time.Sleep(500 * time.Millisecond)
	// A stall longer than it: connections are closed.
	outage("stalled", 4*time.Second, true, pause, r.Resume)
	time.Sleep(500 * time.Millisecond)
	// A restart: Redis comes back empty.
	outage("stopped", time.Second, true, func() time.Time {
		phaseMu.Lock()
		dataLossFrom = time.Now()
		phaseMu.Unlock()
		r.Stop()
		return time.Now()
	}, r.Restart)
	back := time.Now()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	probes.Wait()

	// tally counts the requests sent during each outage by how they ended.
	type tally struct {
		answeredAfter, closed int           // answered once Redis was back; closed
		maxClosed             time.Duration // the longest a closed request waited
	}
	counts := map[string]*tally{}
	all := probeOut
	for w := range recs {
		for _, v := range recs[w].violations {
			t.Error(v)
		}
		all = append(all, recs[w].outcomes...)
	}
	for _, o := range all {
		for _, win := range windows {
			if o.call.Before(win.from) || !o.call.Before(win.to) {
				continue
			}
			c := counts[win.name]
			if c == nil {
				c = &tally{}
				counts[win.name] = c
			}
			switch {
			case o.status == 0:
				c.closed++
				c.maxClosed = max(c.maxClosed, o.ret.Sub(o.call))
			case !o.ret.After(win.to):
				t.Errorf("worker %d: %s sent %v into the %s outage was answered %d before Redis was back",
					o.worker, o.what, o.call.Sub(win.from), win.name, o.status)
			default:
				c.answeredAfter++
			}
		}
	}
	for _, win := range windows {
		c := counts[win.name]
		if c == nil {
			c = &tally{}
		}
		if win.closedWanted && c.closed == 0 {
			t.Errorf("no request sent while Redis was %s had its connection closed: the test did not exercise it", win.name)
		}
		t.Logf("requests sent while Redis was %s (%v): %d connections closed (after at most %v), %d answered once it was back",
			win.name, win.to.Sub(win.from).Round(time.Millisecond), c.closed, c.maxClosed.Round(time.Millisecond), c.answeredAfter)
	}
	// Every worker kept working after the restart.
	for w := range recs {
		ok := 0
		for _, o := range recs[w].outcomes {
			if o.status != 0 && o.call.After(back) {
				ok++
			}
		}
		if ok == 0 {
			t.Errorf("worker %d: no request answered after Redis restarted", w)
		}
	}

	// Every acknowledged write is readable, through both gateways.
	forced := 0
	for i := range writers {
		rec := &recs[readers+i]
		forced += rec.forced
		for gi, g := range gws {
			c := dial(t, g.Addr)
			resp := c.do(stateclient.Get(writerU(i)))
			var k int
			if _, err := fmt.Sscanf(string(resp.Body), "seq=%d", &k); resp.Status != 200 || err != nil || k < rec.lastAcked || k > rec.lastSent {
				t.Errorf("writer %d via gateway %d: GET answered %d %q; the last acknowledged PUT wrote seq=%d, the last sent seq=%d",
					i, gi, resp.Status, resp.Body, rec.lastAcked, rec.lastSent)
			}
		}
	}
	t.Logf("writers: %d orphaned locks (GetExclusive answered by a closed connection) released with the 423's cookie", forced)

	// Each gateway logged the failed requests: in full, or as a count.
	for gi, g := range gws {
		if logs := g.Logs(); !strings.Contains(logs, "backend failed; closing the connection") && !strings.Contains(logs, "backend failed ") {
			t.Errorf("gateway %d: its log never mentions the failed requests", gi)
		}
	}
}

// Redis unreachable at startup: the gateway starts, says so in its log,
// closes connections instead of answering, and serves as soon as Redis is up.
func TestFarmRedisUnreachableAtStartup(t *testing.T) {
	r := redistest.Start(t)
	r.Stop() // keep its port, free now
	g := redisGateway(t, r.Addr())

	waitLog := func(want string, d time.Duration) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(g.Logs(), want) {
				return true
			}
		}
		return false
	}
	if !waitLog("redis is not answering", 5*time.Second) || !strings.Contains(g.Logs(), r.Addr()) {
		t.Fatalf("the log does not report the unreachable Redis at %s within 5s:\n%s", r.Addr(), g.Logs())
	}
	u := target("startupsessionxxxxxxxxxxx")
	for _, req := range []*wire.ClientRequest{stateclient.Get(u), stateclient.Put(u, -1, []byte("x")), stateclient.Acquire(u)} {
		fc := &stateclient.Conn{Addr: g.Addr}
		start := time.Now()
		resp, err := fc.Do(req)
		fc.Close()
		if err == nil {
			t.Fatalf("%s with Redis down was answered %d, want a closed connection", req.Method, resp.Status)
		}
		t.Logf("%s with Redis down: %v after %v", req.Method, err, time.Since(start).Round(time.Millisecond))
	}

	r.Restart()
	back := time.Now()
	var took time.Duration
	for n := 0; ; n++ {
		fc := &stateclient.Conn{Addr: g.Addr}
		body := []byte(fmt.Sprintf("v%d", n))
		presp, err := fc.Do(stateclient.Put(u, -1, body))
		if err == nil {
			if presp.Status != 200 {
				t.Fatalf("PUT answered %d", presp.Status)
			}
			gresp, err := fc.Do(stateclient.Get(u))
			if err == nil && (gresp.Status != 200 || !bytes.Equal(gresp.Body, body)) {
				t.Fatalf("GET after an acknowledged PUT answered %d %q", gresp.Status, gresp.Body)
			}
			if err == nil {
				took = time.Since(back)
				fc.Close()
				break
			}
		}
		fc.Close()
		if time.Since(back) > 5*time.Second {
			t.Fatalf("no request succeeded within 5s of Redis starting; last error: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first success %v after Redis started", took.Round(time.Millisecond))
	if !waitLog("redis is answering again", 3*time.Second) {
		t.Errorf("the log does not say Redis is answering again:\n%s", g.Logs())
	}
}
