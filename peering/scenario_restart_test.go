package peering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aspstate/aspstate/internal/lockcheck"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/internal/testlog"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// Planned restarts (peering.restart_grace) and durable members that come
// back within dead_after, on bbolt members.

// durableFarm is a farm of three bbolt members with dead_after 10 s, lease
// 2 s and restart_grace 5 s; their log is shown when the test fails.
func durableFarm(t *testing.T, grace time.Duration) *peeringtest.Cluster {
	var logs testlog.Buffer
	c := peeringtest.New(t, 3, peeringtest.Options{Frontends: true, Store: boltStores(t.TempDir()),
		DeadAfter: 10 * time.Second, Lease: 2 * time.Second, RestartGrace: grace, Log: &logs})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("members' log:\n%s", logs.String())
		}
	})
	return c
}

// moves adds up the records moved in or out by the members' current nodes.
func moves(c *peeringtest.Cluster) uint64 {
	var n uint64
	for _, m := range c.Members {
		st := m.Node.Status()
		n += st.MovedOut + st.MovedIn
	}
	return n
}

func allActive(t *testing.T, c *peeringtest.Cluster) {
	t.Helper()
	for _, m := range c.Members {
		for _, ms := range m.Node.Status().Members {
			if ms.State != "active" || len(ms.VotesDown) > 0 {
				t.Errorf("%s sees %s %s (voted down by %v)", m.ID, ms.ID, ms.State, ms.VotesDown)
			}
		}
	}
}

// cycleTargets inserts n counter sessions, spread over the owners.
func cycleTargets(t *testing.T, c *peeringtest.Cluster, prefix string, n int) []string {
	cl := &stateclient.Conn{Addr: c.Members[0].FrontAddr}
	defer cl.Close()
	targets := make([]string, n)
	for s := range targets {
		targets[s] = targetOwnedBy(t, c, s%3, fmt.Sprintf("%s%d-", prefix, s))
		if r := mustDo(t, cl, stateclient.Insert(targets[s])); r.Status != 200 {
			t.Fatalf("insert: %d", r.Status)
		}
	}
	return targets
}

// restartUnderLoad runs the ASP.NET cycle through the frontends of every
// member but i while member i stops for a restart and comes back: every
// request must succeed (Failover off: a transport error is a failure).
func restartUnderLoad(t *testing.T, c *peeringtest.Cluster, i int, prefix string, base time.Time) (lockcheck.Result, uint64) {
	var addrs []string
	for j, m := range c.Members {
		if j != i {
			addrs = append(addrs, m.FrontAddr)
		}
	}
	targets := cycleTargets(t, c, prefix, 6)
	done := make(chan lockcheck.Result)
	go func() {
		// Think paces the cycles so that the load still runs when the
		// restart comes, however fast the machine: 120 cycles a client
		// take at least 1.2 s, the restart starts at 0.5 s.
		done <- lockcheck.RunCycles(lockcheck.Load{Addrs: addrs, Targets: targets, Clients: 6,
			Duration: 2500 * time.Millisecond, MaxCycles: 120, Backoff: 5 * time.Millisecond,
			Think: 10 * time.Millisecond, Base: base})
	}()
	time.Sleep(500 * time.Millisecond)
	st := c.Members[i].Node.Status()
	movedBefore := st.MovedOut + st.MovedIn
	stopped := time.Now()
	c.Stop(i)
	if got := c.Members[(i+1)%3].Node.Status().Members[i].State; got != "restarting" {
		t.Errorf("gw%d's view of the stopped gw%d: %q, want restarting", (i+1)%3+1, i+1, got)
	}
	time.Sleep(200 * time.Millisecond) // the process restarting
	c.Restart(i, false)
	t.Logf("gw%d stopped and back in %v", i+1, time.Since(stopped).Round(time.Millisecond))
	res := <-done
	for _, err := range res.Errors {
		t.Errorf("a request failed during gw%d's planned restart: %v", i+1, err)
	}
	for _, v := range lockcheck.CheckGrants(res.Grants, 0) {
		t.Error(v)
	}
	return res, movedBefore
}

// A planned restart of one durable member under load through the others:
// requests for its sessions are held, then served; none fails, nothing moves.
func TestRestartPlannedHoldsRequests(t *testing.T) {
	c := durableFarm(t, 5*time.Second)
	res, movedBefore := restartUnderLoad(t, c, 2, "planned", time.Time{})
	if n := movedBefore + moves(c); n != 0 {
		t.Errorf("%d records moved during a planned restart", n)
	}
	held := c.Members[0].Node.Status().HeldForRestart + c.Members[1].Node.Status().HeldForRestart
	if held == 0 {
		t.Error("no request was held: the test did not exercise the restart")
	}
	allActive(t, c)
	t.Logf("planned restart: %d operations, %d requests held, 0 failed", len(res.Ops), held)
	checkLinearizable(t, res.Ops)
}

// A rolling restart of all three durable members, one after the other,
// under load through the other two: no request fails, no record moves, and
// the lock history is linearizable per session.
func TestRestartRollingMovesNothing(t *testing.T) {
	c := durableFarm(t, 5*time.Second)
	base := time.Now()
	var ops []porcupine.Operation
	var moved, held uint64
	for i := range c.Members {
		res, before := restartUnderLoad(t, c, i, fmt.Sprintf("roll%d-", i), base)
		moved += before
		for _, m := range c.Members {
			held += m.Node.Status().HeldForRestart
		}
		for _, op := range res.Ops { // each phase has its own sessions
			in := op.Input.(lockcheck.In)
			in.Session += 100 * i
			op.Input = in
			ops = append(ops, op)
		}
	}
	if n := moved + moves(c); n != 0 {
		t.Errorf("%d records moved during a rolling restart", n)
	}
	if held == 0 {
		t.Error("no request was held: the test did not exercise the restarts")
	}
	allActive(t, c)
	t.Logf("rolling restart: %d operations, 0 failed, 0 moved", len(ops))
	checkLinearizable(t, ops)
}

// A restart that takes longer than restart_grace: the held requests fail
// (connection closed) when the grace ends, never 404; later ones fail fast;
// once the member is back its sessions are served again.
func TestRestartLongerThanGrace(t *testing.T) {
	c := durableFarm(t, time.Second)
	addrs := frontAddrs(c)
	k := targetOwnedBy(t, c, 2, "slow")
	cl := &stateclient.Conn{Addr: addrs[0]}
	defer cl.Close()
	mustDo(t, cl, stateclient.Put(k, -1, []byte("kept")))
	c.Stop(2)
	start := time.Now()
	if st := status(addrs[0], k, false); st != -1 {
		t.Fatalf("a request for the restarting member's session answered %d, want a closed connection", st)
	}
	if took := time.Since(start); took < 700*time.Millisecond || took > 3*time.Second {
		t.Errorf("the held request failed after %v; want about restart_grace (1s)", took)
	}
	start = time.Now()
	if st := status(addrs[1], k, false); st != -1 {
		t.Fatalf("after the grace: %d, want a closed connection", st)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("after the grace a request took %v to fail; want fast", took)
	}
	c.Restart(2, false)
	waitFor(t, 5*time.Second, "the restarted member's session is served", func() bool { return status(addrs[0], k, false) == 200 })
	r := mustDo(t, cl, stateclient.Get(k))
	if r.Status != 200 || string(r.Body) != "kept" {
		t.Errorf("after the restart: %d %q", r.Status, r.Body)
	}
	if n := moves(c); n != 0 {
		t.Errorf("%d records moved", n)
	}
	allActive(t, c)
}

// A durable member killed (no announcement) and restarted within dead_after
// keeps its range and loses nothing: acknowledged writes and locks are there
// with the same cookies, through every gateway.
func TestRestartKilledDurableWithinDeadAfter(t *testing.T) {
	c := durableFarm(t, 0)
	addrs := frontAddrs(c)
	type sess struct {
		target, body string
		cookie       int32
	}
	var ss []sess
	cl := &stateclient.Conn{Addr: addrs[0]}
	defer cl.Close()
	for i := range 30 {
		s := sess{target: targetOwnedBy(t, c, i%3, fmt.Sprintf("killed%d-", i)), body: fmt.Sprintf("blob %d", i)}
		if r := mustDo(t, cl, stateclient.Put(s.target, -1, []byte(s.body))); r.Status != 200 {
			t.Fatalf("put: %d", r.Status)
		}
		if i%2 == 0 {
			r := mustDo(t, cl, stateclient.Acquire(s.target))
			if r.Status != 200 {
				t.Fatalf("acquire: %d", r.Status)
			}
			s.cookie = r.LockCookie.Value
		}
		ss = append(ss, s)
	}
	killed := time.Now()
	c.Kill(2)
	time.Sleep(500 * time.Millisecond)
	c.Restart(2, false)
	if d := time.Since(killed); d > 8*time.Second {
		t.Fatalf("the restart took %v, near dead_after", d)
	}
	for via, a := range addrs {
		vc := &stateclient.Conn{Addr: a}
		for _, s := range ss {
			var r, err = vc.Do(stateclient.Get(s.target))
			for tries := 0; err != nil && tries < 50; tries++ { // its links coming back
				time.Sleep(50 * time.Millisecond)
				r, err = vc.Do(stateclient.Get(s.target))
			}
			switch {
			case err != nil:
				t.Fatalf("via gw%d: %v", via+1, err)
			case s.cookie != 0 && (r.Status != 423 || r.LockCookie.Value != s.cookie):
				t.Errorf("locked session via gw%d: %d cookie %d, want 423 cookie %d", via+1, r.Status, r.LockCookie.Value, s.cookie)
			case s.cookie == 0 && (r.Status != 200 || string(r.Body) != s.body):
				t.Errorf("session via gw%d: %d %q, want 200 %q", via+1, r.Status, r.Body, s.body)
			}
		}
		vc.Close()
	}
	if n := moves(c); n != 0 {
		t.Errorf("%d records moved", n)
	}
	allActive(t, c)
}
