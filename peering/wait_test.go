package peering_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// With peering the lock wait happens at the owner: a GetExclusive sent to
// gw1 for a session gw2 owns waits at gw2 and is woken by a release sent
// through gw1 (forwarded) or through gw2 itself; a wait longer than
// peering.request_timeout runs out with a 423, not a closed connection,
// because the forward allows the request timeout plus the wait.
func TestLockWaitAtTheOwner(t *testing.T) {
	c := peeringtest.New(t, 2, peeringtest.Options{Frontends: true, LockWait: 3 * time.Second,
		RequestTimeout: time.Second})
	u := targetOwnedBy(t, c, 1, "wait")
	holder := &stateclient.Conn{Addr: c.Members[0].FrontAddr}
	waiter := &stateclient.Conn{Addr: c.Members[0].FrontAddr}
	local := &stateclient.Conn{Addr: c.Members[1].FrontAddr}
	defer holder.Close()
	defer waiter.Close()
	defer local.Close()
	cookie := insertLocked(t, holder, u)

	for _, via := range []*stateclient.Conn{holder, local} {
		got := make(chan int32, 1)
		start := time.Now()
		go func() {
			r, err := waiter.Do(stateclient.Acquire(u))
			if err != nil || r.Status != 200 {
				t.Errorf("waiting acquire: status %d, err %v", r.Status, err)
				got <- -1
				return
			}
			got <- r.LockCookie.Value
		}()
		owner := c.Members[1].Waits
		for owner.Waiting() != 1 {
			if time.Since(start) > 2*time.Second {
				t.Fatal("the forwarded acquire is not waiting at the owner")
			}
			time.Sleep(time.Millisecond)
		}
		if c.Members[0].Waits.Waiting() != 0 {
			t.Error("the forwarding gateway waits too")
		}
		if r := mustDo(t, via, stateclient.Release(u, cookie)); r.Status != 200 {
			t.Fatalf("release via %s: %d", via.Addr, r.Status)
		}
		next := <-got
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("woken after %v: not by the release (the wait is 3s)", d)
		}
		if next != cookie+1 {
			t.Fatalf("the waiter's cookie: %d, want %d", next, cookie+1)
		}
		cookie = next
	}

	// The wait (3s) runs out past request_timeout (1s): still a 423.
	start := time.Now()
	r, err := waiter.Do(stateclient.Acquire(u))
	if err != nil || r.Status != 423 || r.LockCookie.Value != cookie {
		t.Fatalf("acquire of a held lock: status %d cookie %d err %v; want 423 with cookie %d", r.Status, r.LockCookie.Value, err, cookie)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("the 423 came after %v: the request did not wait", d)
	}
}

// A forwarded waiter whose web server hangs up at the gateway it reached is
// given up at the owner: the waiter is skipped and takes no lock, so the
// next acquirer after the release gets it (issue 15).
func TestLockWaitForwardedClientGone(t *testing.T) {
	c := peeringtest.New(t, 2, peeringtest.Options{Frontends: true, LockWait: 3 * time.Second,
		RequestTimeout: time.Second})
	u := targetOwnedBy(t, c, 1, "gone")
	holder := &stateclient.Conn{Addr: c.Members[1].FrontAddr}
	defer holder.Close()
	cookie := insertLocked(t, holder, u)

	// The web server at gw1 asks for the lock, then hangs up while its
	// request waits at gw2.
	nc, err := net.Dial("tcp", c.Members[0].FrontAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(wire.AppendRequest(nil, stateclient.Acquire(u))); err != nil {
		t.Fatal(err)
	}
	owner := c.Members[1].Waits
	waitFor(t, 2*time.Second, "the forwarded acquire waiting at the owner", func() bool { return owner.Waiting() == 1 })
	nc.Close()
	waitFor(t, 2*time.Second, "the owner giving the waiter up", func() bool { return owner.Waiting() == 0 })

	if r := mustDo(t, holder, stateclient.Release(u, cookie)); r.Status != 200 {
		t.Fatalf("release: %d", r.Status)
	}
	// Had the gone waiter taken the lock, this would be a 423.
	if r := mustDo(t, holder, stateclient.Acquire(u)); r.Status != 200 || r.LockCookie.Value != cookie+1 {
		t.Fatalf("acquire after the release: status %d cookie %d; want 200 with cookie %d (the gone waiter took the lock)",
			r.Status, r.LockCookie.Value, cookie+1)
	}
}

// countingStore counts a memstore's Apply calls (the store operations the
// lock rules run), keeping every other method the farm uses.
type countingStore struct {
	*memstore.Store
	applies *atomic.Int64
}

func (s countingStore) Apply(ctx context.Context, key string, fn backends.Transition) error {
	s.applies.Add(1)
	return s.Store.Apply(ctx, key, fn)
}

// A forwarded request for a session that others already wait for at the
// owner queues behind them there without running first: no store operation
// before its turn, and the turns go in arrival order.
func TestLockWaitForwardedQueuesBehind(t *testing.T) {
	var applies atomic.Int64
	c := peeringtest.New(t, 2, peeringtest.Options{Frontends: true, LockWait: 3 * time.Second,
		Store: func(t testing.TB, id string, fresh bool) backends.Backend {
			st, err := memstore.New(memstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if id == "gw2" {
				return countingStore{st, &applies}
			}
			return st
		}})
	u := targetOwnedBy(t, c, 1, "behind")
	holder := &stateclient.Conn{Addr: c.Members[1].FrontAddr}
	first := &stateclient.Conn{Addr: c.Members[0].FrontAddr}
	second := &stateclient.Conn{Addr: c.Members[0].FrontAddr}
	defer holder.Close()
	defer first.Close()
	defer second.Close()
	cookie := insertLocked(t, holder, u)
	owner := c.Members[1].Waits
	waiting := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for owner.Waiting() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting at the owner, want %d", owner.Waiting(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	acquire := func(conn *stateclient.Conn, got chan<- wire.ClientResponse) {
		r, err := conn.Do(stateclient.Acquire(u))
		if err != nil {
			t.Errorf("waiting acquire: %v", err)
		}
		got <- r
	}
	got1, got2 := make(chan wire.ClientResponse, 1), make(chan wire.ClientResponse, 1)
	go acquire(first, got1)
	waiting(1)
	before := applies.Load()
	go acquire(second, got2)
	waiting(2)
	time.Sleep(50 * time.Millisecond) // a run would have been quick
	if n := applies.Load() - before; n != 0 {
		t.Fatalf("the request arriving behind a waiter ran %d store operations at the owner before its turn, want 0", n)
	}
	if r := mustDo(t, holder, stateclient.Release(u, cookie)); r.Status != 200 {
		t.Fatalf("release: %d", r.Status)
	}
	if r := <-got1; r.Status != 200 || r.LockCookie.Value != cookie+1 {
		t.Fatalf("first waiter: status %d cookie %d, want 200 with %d", r.Status, r.LockCookie.Value, cookie+1)
	}
	waiting(1)
	if r := mustDo(t, first, stateclient.Release(u, cookie+1)); r.Status != 200 {
		t.Fatalf("release: %d", r.Status)
	}
	if r := <-got2; r.Status != 200 || r.LockCookie.Value != cookie+2 {
		t.Fatalf("second waiter: status %d cookie %d, want 200 with %d", r.Status, r.LockCookie.Value, cookie+2)
	}
}

// insertLocked stores session u through conn and takes its lock, returning
// the lock's cookie.
func insertLocked(t *testing.T, conn *stateclient.Conn, u string) int32 {
	t.Helper()
	if r := mustDo(t, conn, stateclient.Insert(u)); r.Status != 200 {
		t.Fatalf("insert: %d", r.Status)
	}
	r := mustDo(t, conn, stateclient.Acquire(u))
	if r.Status != 200 {
		t.Fatalf("acquire: %d", r.Status)
	}
	return r.LockCookie.Value
}
