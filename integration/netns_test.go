package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/lockcheck"
	"github.com/aspstate/aspstate/internal/stateclient"
)

// Peering failover on real binaries, each gateway in its own network
// namespace (netns_helpers_test.go), under the ASP.NET cycle load sent from
// the test's namespace to all three: kill -9, SIGSTOP longer than dead_after,
// and an iptables cut isolating one gateway. The tests t.Logf their figures
// (BENCHMARKS.md, "Peering failover (network namespaces)"); they assert only
// bounds that express correctness, not the timing targets.
//
// Short timings keep them fast: dead_after 3 s, lease 1 s.

const (
	nsDeadAfter = 3 * time.Second
	nsLease     = time.Second
	// failFast is the latency under which a failure counts as immediate
	// rather than waiting out a deadline (peering.request_timeout is 2 s, a
	// web server's own 10 s).
	failFast = 250 * time.Millisecond
	// notYet: a 404 (or a new session accepted) for the failed gateway's
	// range this soon after it stopped is certainly false. A vote needs
	// dead_after of silence; the lease margin covers the last ping it sent
	// (every lease/5) having been heard a little before it stopped.
	notYet = nsDeadAfter - nsLease
)

func nsLoad(f *nsFarm, base time.Time, targets []string, d time.Duration) lockcheck.Load {
	return lockcheck.Load{Addrs: f.front, Targets: targets, Clients: 3 * len(targets), Duration: d,
		MaxCycles: 40, Failover: true, Backoff: 20 * time.Millisecond, Think: 400 * time.Millisecond, Base: base}
}

// kill -9 of gw3 under load: its keys fail fast (the connection closed, never
// a 404 or a 200) until a majority declares it down, then its range takes new
// sessions; the other gateways' sessions, locks and acknowledged cycles are
// untouched and their lock history is linearizable.
func TestNetnsKill9(t *testing.T) {
	f := startNSFarm(t, nsDeadAfter, nsLease)
	targets := append(f.owned(0, "kload-a", 2), f.owned(1, "kload-b", 2)...)
	f.insert(targets)
	locked := append(f.lockSessions(0, "klock-a", 1), f.lockSessions(1, "klock-b", 1)...)
	victim := f.owned(2, "killed", 1)[0]
	if r := dial(t, f.front[0]).do(stateclient.Put(victim, -1, []byte("of gw3"))); r.Status != 200 {
		t.Fatalf("put: %d", r.Status)
	}
	fresh := f.owned(2, "knew", 300) // keys of gw3's range, for new sessions

	base := time.Now()
	done := make(chan lockcheck.Result, 1)
	go func() { done <- lockcheck.RunCycles(nsLoad(f, base, targets, 10*time.Second)) }()
	reads := startProbe(base, f.front[0], 20*time.Millisecond, func(int) *wire.ClientRequest { return stateclient.Get(victim) })
	time.Sleep(2 * time.Second)

	killAt := time.Since(base)
	f.gws[2].cmd.Process.Signal(syscall.SIGKILL)
	inserts := startProbe(base, f.front[1], 50*time.Millisecond, func(n int) *wire.ClientRequest { return stateclient.Insert(fresh[n%len(fresh)]) })
	firstFail := reads.wait(t, killAt, 10*time.Second, "gw3's key fails through gw1", failed)
	declaredAt := waitSince(t, base, 30*time.Second, "gw1 sees gw3 down", func() bool { return f.memberState(0, 2) == "down" })
	accepted := inserts.wait(t, killAt, 30*time.Second, "gw3's range takes a new session", func(r probeResult) bool { return r.status == 200 })
	res := <-done
	rr, ins := reads.results(), inserts.results()

	// What gw1 answered for gw3's session: the session while gw3 lived, then
	// failures (fast ones), and 404s only once gw3 may have been declared down.
	fastFrom, maxFail, fails := time.Duration(-1), time.Duration(0), 0
	for _, r := range rr {
		switch {
		case r.ret < killAt || r.call < killAt && r.status == 200:
			if r.status != 200 || r.body != "of gw3" {
				t.Errorf("gw3's session while gw3 was up: %v", r)
			}
		case r.status == 200:
			t.Errorf("gw3's old session answered after the kill: %v", r)
		case r.status == 404 && r.ret < killAt+notYet:
			t.Errorf("false 404 for gw3's session before it could be declared down: %v", r)
		case r.status >= 0 && r.status != 404:
			t.Errorf("gw3's session after the kill: %v", r)
		case failed(r) && r.call >= killAt:
			fails++
			lat := r.ret - r.call
			maxFail = max(maxFail, lat)
			if lat > failFast {
				fastFrom = -1
			} else if fastFrom < 0 {
				fastFrom = r.ret
			}
		}
	}
	if fails == 0 {
		t.Errorf("no request for gw3's session failed after the kill")
	}
	for _, r := range ins {
		if r.status == 200 && r.ret < killAt+notYet {
			t.Errorf("a new session in gw3's range was accepted before gw3 could be declared down: %v", r)
		}
	}

	checkHistory(t, "load on gw1's and gw2's sessions", res)
	f.checkCounters(targets, res, 0, 1)
	f.checkLocked(locked, 0, 1)
	if r, err := dial(t, f.front[0]).try(stateclient.Get(fresh[accepted.n%len(fresh)])); err != nil || r.Status != 200 {
		t.Errorf("the new session in gw3's range via gw1: %d %v", r.Status, err)
	}
	t.Logf("kill -9 (dead_after %v, lease %v): first failure for gw3's key %v after the kill; failing immediately (< %v) from %v; slowest failure %v (%d failures); votes logged by gw1 %s, gw2 %s, declaration logged %s, seen in gw1's /peers %v; new session in its range accepted %v after the kill (target dead_after+5s = %v)",
		nsDeadAfter, nsLease, ms(firstFail.ret-killAt), failFast, ms(fastFrom-killAt), ms(maxFail), fails,
		f.gws[0].loggedFig(base, killAt, "voting member down", "member=gw3"), f.gws[1].loggedFig(base, killAt, "voting member down", "member=gw3"),
		f.declaredFig(base, killAt), ms(declaredAt-killAt), ms(accepted.ret-killAt), nsDeadAfter+5*time.Second)
	if maxFail > 3*time.Second {
		t.Errorf("a request for the killed gateway's key took %v to fail: more than request_timeout plus margin", maxFail)
	}
}

// SIGSTOP of gw3 for longer than dead_after, then SIGCONT: while paused it is
// declared down and its range takes new sessions; resumed, it answers nothing
// from its stale state (its lease has expired), sets its old records aside
// and rejoins, taking its range back by hand-off under load. Never two lock
// holders, in either load.
func TestNetnsPauseLongerThanDeadAfter(t *testing.T) {
	f := startNSFarm(t, nsDeadAfter, nsLease)
	targets := append(f.owned(0, "pload-a", 2), f.owned(1, "pload-b", 2)...)
	f.insert(targets)
	locked := append(f.lockSessions(0, "plock-a", 1), f.lockSessions(1, "plock-b", 1)...)
	old := f.lockSessions(2, "pold", 2) // gw3's sessions, locked, before the pause
	if r := dial(t, f.front[0]).do(stateclient.Release(old[0].u, old[0].cookie)); r.Status != 200 {
		t.Fatalf("release: %d", r.Status)
	}
	news := f.owned(2, "pnew", 2) // gw3's range, created once gw3 is declared down

	base := time.Now()
	done1 := make(chan lockcheck.Result, 1)
	go func() { done1 <- lockcheck.RunCycles(nsLoad(f, base, targets, 12*time.Second)) }()
	direct := startProbe(base, f.front[2], 50*time.Millisecond, func(n int) *wire.ClientRequest { return stateclient.Get(old[n%2].u) })
	time.Sleep(2 * time.Second)

	stopAt := time.Since(base)
	f.gws[2].cmd.Process.Signal(syscall.SIGSTOP)
	declaredAt := waitSince(t, base, 30*time.Second, "gw1 sees gw3 down", func() bool { return f.memberState(0, 2) == "down" })
	// Its range takes new sessions (a web server's acquire gets 404, then it
	// inserts); they run the cycle load through all three gateways across
	// the resume and the hand-off back to gw3.
	c := dial(t, f.front[0])
	for _, u := range news {
		for end := time.Now().Add(5 * time.Second); ; {
			r, err := c.try(stateclient.Insert(u))
			if err == nil && r.Status == 200 {
				break
			}
			if err == nil || time.Now().After(end) {
				t.Fatalf("new session in gw3's range after its declaration: %d %v", r.Status, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	resumeAt := max(stopAt+nsDeadAfter+2*time.Second, time.Since(base)+time.Second)
	load2 := nsLoad(f, base, news, resumeAt+6*time.Second-time.Since(base))
	done2 := make(chan lockcheck.Result, 1)
	go func() { done2 <- lockcheck.RunCycles(load2) }()
	time.Sleep(resumeAt - time.Since(base))

	contAt := time.Since(base)
	f.gws[2].cmd.Process.Signal(syscall.SIGCONT)
	var first string
	rejoinAt := waitSince(t, base, 30*time.Second, "gw3 rejoins and serves", func() bool {
		st, err := f.status(2)
		if err != nil {
			return false
		}
		if first == "" {
			first = fmt.Sprintf("lease %v, not serving: %q", st.Lease, st.NotServing)
		}
		return st.Members[2].State == "active" && st.NotServing == ""
	})
	served := direct.wait(t, contAt, 20*time.Second, "gw3 answers again", answered)
	res1, res2 := <-done1, <-done2
	dr := direct.results()

	// gw3's old sessions: never answered from its stale state once paused
	// (its lease had expired long before the resume); 404 only once it may
	// have been declared down (the sessions' new incarnation is empty).
	failedAfterResume := 0
	for _, r := range dr {
		switch {
		case r.ret < stopAt+nsLease:
		case r.status == 200 || r.status == 423:
			t.Errorf("gw3 served its old session from stale state after the pause: %v", r)
		case r.status == 404 && r.ret < stopAt+notYet:
			t.Errorf("false 404 before gw3 could be declared down: %v", r)
		case failed(r) && r.ret >= contAt:
			failedAfterResume++
		case r.status >= 0 && r.status != 404:
			t.Errorf("gw3's old session: %v", r)
		}
	}
	checkHistory(t, "load on gw1's and gw2's sessions", res1)
	checkHistory(t, "load on new sessions in gw3's range, across the resume and the hand-off", res2)
	f.checkCounters(targets, res1, 0, 1, 2)
	f.checkCounters(news, res2, 0, 1, 2)
	f.checkLocked(locked, 0, 1, 2)
	for _, s := range old {
		for i := range f.front {
			if r, err := dial(t, f.front[i]).try(stateclient.Get(s.u)); err != nil || r.Status != 404 {
				t.Errorf("gw3's old session %s via gw%d after it rejoined: %d %v, want 404 (set aside)", s.u, i+1, r.Status, err)
			}
		}
	}
	if aside, _ := os.ReadDir(filepath.Join(f.dir, "gw3-aside")); len(aside) == 0 {
		t.Errorf("gw3 rejoined without setting its old records aside in peering.aside_dir")
	}
	moved := "?"
	if st, err := f.status(2); err == nil {
		moved = fmt.Sprint(st.MovedIn)
	}
	t.Logf("SIGSTOP (dead_after %v, lease %v): declared down (logged) %s, seen in gw1's /peers %v after the stop; resumed after %v; first status after the resume: %s; %d requests to gw3 failed after the resume and none was served from stale state; gw3 answered again %v and rejoined %v after the resume; %s records moved back to it",
		nsDeadAfter, nsLease, f.declaredFig(base, stopAt), ms(declaredAt-stopAt), ms(contAt-stopAt), first, failedAfterResume, ms(served.ret-contAt), ms(rejoinAt-contAt), moved)
}

// An iptables cut isolating gw3 from gw1 and gw2 (its clients still reach
// it), shorter than dead_after: gw3 stops serving within the lease, the
// majority serves its own range throughout, nobody is declared down, and
// after the heal gw3 serves again with its sessions and locks intact.
// dead_after is 6 s here so that a slow machine does not turn the 2.5 s cut
// into a declaration (that case is TestNetnsPauseLongerThanDeadAfter's).
func TestNetnsCutMinority(t *testing.T) {
	needNetns(t)
	if _, err := exec.LookPath("iptables-restore"); err != nil {
		t.Fatalf("needs iptables (Debian package iptables; .ci/run installs it): %v", err)
	}
	const deadAfter, cutFor = 6 * time.Second, 2500 * time.Millisecond
	f := startNSFarm(t, deadAfter, nsLease)
	targets := append(append(f.owned(0, "cload-a", 2), f.owned(1, "cload-b", 2)...), f.owned(2, "cload-c", 2)...)
	f.insert(targets)
	locked := append(append(f.lockSessions(0, "clock-a", 1), f.lockSessions(1, "clock-b", 1)...), f.lockSessions(2, "clock-c", 1)...)
	kept := f.owned(2, "ckept", 1)[0]
	if r := dial(t, f.front[0]).do(stateclient.Put(kept, -1, []byte("kept"))); r.Status != 200 {
		t.Fatalf("put: %d", r.Status)
	}

	base := time.Now()
	done := make(chan lockcheck.Result, 1)
	go func() { done <- lockcheck.RunCycles(nsLoad(f, base, targets, 9*time.Second)) }()
	direct := startProbe(base, f.front[2], 20*time.Millisecond, func(int) *wire.ClientRequest { return stateclient.Get(kept) })
	time.Sleep(2 * time.Second)

	cutAt := time.Since(base)
	f.lab.cut(2, f.lab.ips[0], f.lab.ips[1])
	cutDone := time.Since(base)
	stopped := direct.wait(t, cutAt, 3*nsLease+time.Second, "the minority stops serving", failed)
	noLease := waitSince(t, base, 3*nsLease+time.Second, "gw3 reports no lease", func() bool {
		st, err := f.status(2)
		return err == nil && !st.Lease
	})
	time.Sleep(cutAt + cutFor - time.Since(base))

	healAt := time.Since(base)
	f.lab.heal(2)
	again := direct.wait(t, healAt, 20*time.Second, "the minority serves again", func(r probeResult) bool { return r.status == 200 })
	res := <-done
	dr := direct.results()

	servedCut := 0
	for _, r := range dr {
		switch {
		case r.status >= 0 && (r.status != 200 || r.body != "kept"):
			t.Errorf("gw3's own session via gw3: %v", r)
		case r.status == 200 && r.call > cutDone+3*nsLease && r.ret < healAt:
			t.Errorf("the cut-off minority still served 3×lease after the cut: %v", r)
		case r.status == 200 && r.ret > stopped.ret && r.ret < healAt:
			servedCut++
		}
	}
	if servedCut > 0 {
		t.Errorf("gw3 served %d requests after it had stopped, while still cut off", servedCut)
	}
	checkHistory(t, "load on sessions of all three", res)
	f.checkCounters(targets, res, 0, 1, 2)
	f.checkLocked(locked, 0, 1, 2)
	for i := range f.gws {
		for m := range f.ids {
			if s := f.memberState(i, m); s != "active" {
				t.Errorf("gw%d sees gw%d %q after a cut shorter than dead_after", i+1, m+1, s)
			}
		}
	}
	t.Logf("iptables cut of gw3 (dead_after %v, lease %v, cut %v; iptables-restore took %v): gw3 stopped serving its own session %v after the cut (lease loss logged %s, /peers without lease %v); served again %v after the heal (lease regained logged %s)",
		deadAfter, nsLease, cutFor, ms(cutDone-cutAt), ms(stopped.ret-cutAt), f.gws[2].loggedFig(base, cutAt, "lease lost"), ms(noLease-cutAt),
		ms(again.ret-healAt), f.gws[2].loggedFig(base, healAt, "lease regained"))
}
