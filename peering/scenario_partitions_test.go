package peering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aspstate/aspstate/internal/lockcheck"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// loadTargets creates n sessions spread over the owners in owners, through
// gw1, and returns their targets.
func loadTargets(t *testing.T, c *peeringtest.Cluster, prefix string, n int, owners ...int) []string {
	t.Helper()
	setup := &stateclient.Conn{Addr: c.Members[0].FrontAddr}
	defer setup.Close()
	out := make([]string, n)
	for s := range out {
		out[s] = targetOwnedBy(t, c, owners[s%len(owners)], fmt.Sprintf("%s%d-", prefix, s))
		mustDo(t, setup, stateclient.Insert(out[s]))
	}
	return out
}

// checkRun applies the checks every failover scenario shares: never two lock
// holders at once, and a linearizable history per key.
func checkRun(t *testing.T, what string, res lockcheck.Result) {
	t.Helper()
	for _, v := range lockcheck.CheckGrants(res.Grants, 0) {
		t.Error(v)
	}
	t.Logf("%s: %d grants, %d operations, %d failovers under clients", what, len(res.Grants), len(res.Ops), len(res.Failures))
	checkLinearizable(t, res.Ops)
}

// noneDown fails the test if any member sees another as anything but active.
func noneDown(t *testing.T, c *peeringtest.Cluster, when string) {
	t.Helper()
	for _, m := range c.Members {
		for _, ms := range m.Node.Status().Members {
			if ms.State != "active" {
				t.Errorf("%s: %s sees %s %s", when, m.ID, ms.ID, ms.State)
			}
		}
	}
}

// A bridge: gw1 and gw2 cannot reach each other for longer than dead_after,
// both still reach gw3. Each keeps a majority (itself and gw3), so everyone
// keeps serving and nobody is declared down: gw1's vote against gw2 and
// gw2's against gw1 are one vote each, and gw3, which hears both, casts none.
// A forward across the cut fails (a closed connection, never a 404); the
// same session through gw3, or through its owner, is served throughout.
func TestFailoverBridgeNode(t *testing.T) {
	c := peeringtest.New(t, 3, fastFailover)
	addrs := frontAddrs(c)
	ofGw2 := targetOwnedBy(t, c, 1, "bridge-gw2-")
	mustDo(t, &stateclient.Conn{Addr: addrs[0]}, stateclient.Put(ofGw2, -1, []byte("kept")))
	targets := loadTargets(t, c, "bridge", 6, 0, 1, 2)
	done := make(chan lockcheck.Result)
	go func() {
		done <- lockcheck.RunCycles(lockcheck.Load{Addrs: addrs, Targets: targets, Clients: 12,
			Duration: 8 * time.Second, MaxCycles: 150, Failover: true, Backoff: 5 * time.Millisecond, Think: 40 * time.Millisecond})
	}()
	time.Sleep(300 * time.Millisecond)
	c.Cut([]int{0}, []int{1})
	time.Sleep(4 * time.Second) // longer than dead_after (3 s)
	if st := status(addrs[0], ofGw2, false); st == 404 {
		t.Error("gw1 answered 404 for a session of gw2, which it cannot reach: a false 404")
	}
	for _, via := range []int{1, 2} {
		if st := status(addrs[via], ofGw2, false); st != 200 {
			t.Errorf("via gw%d, which reaches the owner: %d, want 200", via+1, st)
		}
	}
	noneDown(t, c, "during the bridge cut")
	for i, m := range c.Members {
		if !m.Node.Status().Lease {
			t.Errorf("gw%d lost its lease although it reaches a majority", i+1)
		}
	}
	c.Heal()
	checkRun(t, "bridge", <-done)
	noneDown(t, c, "after the heal")
	if st := status(addrs[0], ofGw2, false); st != 200 {
		t.Errorf("after the heal, via gw1: %d", st)
	}
}

// A flapping member: gw3's links go down and up every 700 ms for 6 s, each
// outage shorter than dead_after. Nobody is declared down, no session is
// lost or answered 404, and the history under load stays linearizable.
func TestFailoverFlappingMember(t *testing.T) {
	c := peeringtest.New(t, 3, fastFailover)
	addrs := frontAddrs(c)
	targets := loadTargets(t, c, "flap", 6, 0, 1, 2)
	done := make(chan lockcheck.Result)
	go func() {
		done <- lockcheck.RunCycles(lockcheck.Load{Addrs: addrs, Targets: targets, Clients: 12,
			Duration: 8 * time.Second, MaxCycles: 150, Failover: true, Backoff: 5 * time.Millisecond, Think: 40 * time.Millisecond})
	}()
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); {
		c.Isolate(2)
		time.Sleep(700 * time.Millisecond)
		c.Heal()
		time.Sleep(700 * time.Millisecond)
	}
	res := <-done
	checkRun(t, "flapping", res)
	noneDown(t, c, "after flapping shorter than dead_after")
	for _, u := range targets {
		if st := status(addrs[0], u, false); st != 200 {
			t.Errorf("a session after the flapping: %d, want 200", st)
		}
	}
}

// Latency and loss on one link: 40 ms each way on gw1-gw2, then a burst of
// total loss shorter than the link's silence limit. Everything still works
// (slower), nobody loses its lease or is declared down, and the history
// stays linearizable.
func TestFailoverLatencyAndLossOnOneLink(t *testing.T) {
	c := peeringtest.New(t, 3, fastFailover)
	addrs := frontAddrs(c)
	targets := loadTargets(t, c, "slowlink", 6, 0, 1, 2)
	done := make(chan lockcheck.Result)
	go func() {
		done <- lockcheck.RunCycles(lockcheck.Load{Addrs: addrs, Targets: targets, Clients: 12,
			Duration: 6 * time.Second, MaxCycles: 120, Failover: true, Backoff: 5 * time.Millisecond, Think: 40 * time.Millisecond})
	}()
	c.Fault(0, 1).Delay(40 * time.Millisecond)
	c.Fault(1, 0).Delay(40 * time.Millisecond)
	time.Sleep(2 * time.Second)
	for _, f := range []struct{ i, j int }{{0, 1}, {1, 0}} {
		c.Fault(f.i, f.j).LoseOut(true)
	}
	time.Sleep(600 * time.Millisecond)
	for _, f := range []struct{ i, j int }{{0, 1}, {1, 0}} {
		c.Fault(f.i, f.j).LoseOut(false)
	}
	res := <-done
	c.Heal()
	checkRun(t, "latency and loss", res)
	noneDown(t, c, "after latency and a short loss")
	for i, m := range c.Members {
		if !m.Node.Status().Lease {
			t.Errorf("gw%d without a lease after the link healed", i+1)
		}
	}
}

// A partition in the middle of a drain: gw3 leaves while its links to gw1
// are cut for 1.5 s (shorter than dead_after). The drain waits out the cut
// and completes; every session gw3 held is then served, with its contents,
// through both remaining gateways, and the load on the others' sessions
// stays linearizable.
func TestFailoverPartitionDuringDrain(t *testing.T) {
	opts := fastFailover
	opts.DrainTimeout = 30 * time.Second
	c := peeringtest.New(t, 3, opts)
	addrs := frontAddrs(c)
	setup := &stateclient.Conn{Addr: addrs[0]}
	defer setup.Close()
	held := make([]string, 300)
	for s := range held {
		held[s] = targetOwnedBy(t, c, 2, fmt.Sprintf("drained%d-", s))
		mustDo(t, setup, stateclient.Put(held[s], -1, []byte(fmt.Sprintf("contents %d", s))))
	}
	targets := loadTargets(t, c, "drainload", 6, 0, 1)
	done := make(chan lockcheck.Result)
	go func() {
		done <- lockcheck.RunCycles(lockcheck.Load{Addrs: addrs[:2], Targets: targets, Clients: 8,
			Duration: 5 * time.Second, MaxCycles: 120, Failover: true, Backoff: 5 * time.Millisecond, Think: 30 * time.Millisecond})
	}()
	c.Cut([]int{2}, []int{0})
	drained := make(chan int, 1)
	go func() { drained <- c.Drain(2) }()
	time.Sleep(1500 * time.Millisecond)
	c.Heal()
	select {
	case left := <-drained:
		if left != 0 {
			t.Fatalf("the drain left %d records behind", left)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the drain did not complete within 30 s of the heal")
	}
	checkRun(t, "drain across a partition", <-done)
	for _, via := range addrs[:2] {
		cl := &stateclient.Conn{Addr: via}
		for s, u := range held {
			r := mustDo(t, cl, stateclient.Get(u))
			if want := fmt.Sprintf("contents %d", s); r.Status != 200 || string(r.Body) != want {
				t.Fatalf("drained session %d via %s: %d %q", s, via, r.Status, r.Body)
			}
		}
		cl.Close()
	}
}
