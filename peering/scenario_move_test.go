package peering_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// boltStores opens each member's bbolt store in dir; fresh gives it new files.
func boltStores(dir string) func(t testing.TB, id string, fresh bool) backends.Backend {
	var mu sync.Mutex
	gen := map[string]int{}
	return func(t testing.TB, id string, fresh bool) backends.Backend {
		mu.Lock()
		if fresh {
			gen[id]++
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.db", id, gen[id]))
		mu.Unlock()
		st, err := boltstore.Open(boltstore.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

// A drain whose acknowledgements are lost (the records are installed at the
// new owner, the sender does not know), then a target killed and restarted
// on its files: no session is lost, none answers a stale value, locks keep
// their cookies, and afterwards each key is on exactly one store.
func TestScenarioMoveSurvivesLostAcksAndKills(t *testing.T) {
	c := peeringtest.New(t, 3, peeringtest.Options{Frontends: true, Store: boltStores(t.TempDir()),
		DrainTimeout: 30 * time.Second, Log: debugLog()})
	addrs := frontAddrs(c)
	const n = 90
	type sess struct {
		target string
		body   string
		cookie int32
	}
	sessions := make([]sess, n)
	for i := range sessions {
		owner := i % 3
		s := sess{target: targetOwnedBy(t, c, owner, fmt.Sprintf("move%d-", i)), body: fmt.Sprintf("blob %d", i)}
		cl := &stateclient.Conn{Addr: addrs[(i+1)%3]}
		if r := mustDo(t, cl, stateclient.Put(s.target, -1, []byte(s.body))); r.Status != 200 {
			t.Fatalf("put: %d", r.Status)
		}
		if i%2 == 0 {
			r := mustDo(t, cl, stateclient.Acquire(s.target))
			s.cookie = r.LockCookie.Value
		}
		cl.Close()
		sessions[i] = s
	}

	// gw2 drains while it hears nothing back from gw1 and gw3 for 2.5 s:
	// its first moves are installed there but never acknowledged.
	c.Fault(1, 0).LoseIn(true)
	c.Fault(1, 2).LoseIn(true)
	left := make(chan int, 1)
	go func() {
		l, err := c.Members[1].Node.Leave(context.Background())
		if err != nil {
			t.Error(err)
		}
		left <- l
	}()
	time.Sleep(2500 * time.Millisecond)
	c.Heal()
	if l := <-left; l != 0 {
		t.Fatalf("drain left %d records", l)
	}

	// A target dies and comes back on its files.
	c.Restart(2, false)

	check := func(via int) {
		cl := &stateclient.Conn{Addr: addrs[via]}
		defer cl.Close()
		for _, s := range sessions {
			r, err := cl.Do(stateclient.Get(s.target))
			if err != nil {
				t.Fatalf("via gw%d: %v", via+1, err)
			}
			switch {
			case s.cookie != 0 && (r.Status != 423 || r.LockCookie.Value != s.cookie):
				t.Fatalf("locked session via gw%d: %d cookie %d, want 423 cookie %d", via+1, r.Status, r.LockCookie.Value, s.cookie)
			case s.cookie == 0 && (r.Status != 200 || string(r.Body) != s.body):
				t.Fatalf("session via gw%d: %d %q, want 200 %q", via+1, r.Status, r.Body, s.body)
			}
		}
	}
	check(0)
	check(2)
	check(1) // the drained gateway forwards
	deadline := time.Now().Add(10 * time.Second)
	for {
		dup := 0
		for _, s := range sessions {
			holders := 0
			for _, m := range c.Members {
				if _, _, err := m.Store.(backends.Mover).Peek(context.Background(), wire.TargetKey(s.target)); err == nil {
					holders++
				}
			}
			if holders == 0 {
				t.Fatalf("%s is on no store", s.target)
			}
			if holders > 1 {
				dup++
			}
		}
		if dup == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still on two stores 10 s after the drain", dup)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := c.Members[1].Node.Status()
	t.Logf("drained gw2 moved %d records; gw1 took %d, gw3 %d", st.MovedOut,
		c.Members[0].Node.Status().MovedIn, c.Members[2].Node.Status().MovedIn)
}
