package peering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// do runs one operation through nd as the frontend does: locally through a
// transition, or at the owner.
func do(t *testing.T, nd *Node, key string, req locking.Request) (locking.Result, error) {
	t.Helper()
	var local locking.Result
	now := time.Now()
	res, err := nd.Route(context.Background(), key, &req, func(cur *backends.Record) backends.Change {
		r, ch := locking.Decide(cur, &req, now)
		r.Body = bytes.Clone(r.Body)
		local = r
		return ch
	})
	if err != nil {
		return locking.Result{}, err
	}
	if res != nil {
		return *res, nil
	}
	return local, nil
}

func mustDo(t *testing.T, nd *Node, key string, req locking.Request, status int) locking.Result {
	t.Helper()
	r, err := do(t, nd, key, req)
	if err != nil {
		t.Fatalf("%s %v on %s: %v", key, req.Op, nd.Self(), err)
	}
	if r.Status != status {
		t.Fatalf("%s %v on %s: status %d, want %d (%+v)", key, req.Op, nd.Self(), r.Status, status, r)
	}
	return r
}

var (
	getX    = locking.Request{Op: locking.OpGetExclusive}
	get     = locking.Request{Op: locking.OpGet}
	insertU = locking.Request{Op: locking.OpSet, ExtraFlags: locking.N(1), Timeout: locking.N(20)}
)

func put(body string, cookie int32) locking.Request {
	return locking.Request{Op: locking.OpSet, Timeout: locking.N(20), LockCookie: locking.N(cookie), Body: []byte(body)}
}

func release(cookie int32) locking.Request {
	return locking.Request{Op: locking.OpRelease, LockCookie: locking.N(cookie)}
}

// ownedBy returns a key that member owner owns in nd's current view.
func ownedBy(nd *Node, owner int, prefix string) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s(%d)", prefix, i)
		if nd.owner(nd.view.Load(), k) == owner {
			return k
		}
	}
}

// The new-session sequence of an ASP.NET web server, each step through
// another gateway, for keys of every owner: the same answers as one gateway.
func TestSessionSequenceThroughEveryGateway(t *testing.T) {
	_, nodes := newMemCluster(t, 3)
	for owner := range nodes {
		key := ownedBy(nodes[0], owner, "/LM/W3SVC/1/ROOT/seq")
		at := func(i int) *Node { return nodes[(owner+i)%3] }
		mustDo(t, at(1), key, getX, 404)
		mustDo(t, at(2), key, insertU, 200)
		r := mustDo(t, at(0), key, getX, 200)
		if !r.ActionFlags || r.LockCookie != 2 {
			t.Fatalf("first lock of an uninitialized item: %+v", r)
		}
		r2 := mustDo(t, at(1), key, get, 423)
		if r2.LockCookie != 2 || r2.LockDate.IsZero() {
			t.Fatalf("423 through a non-owner lost the lock state: %+v", r2)
		}
		mustDo(t, at(2), key, put("state", 2), 200)
		r = mustDo(t, at(1), key, get, 200)
		if string(r.Body) != "state" || r.Timeout != 20 {
			t.Fatalf("read back %+v", r)
		}
		mustDo(t, at(0), key, release(2), 200)
		mustDo(t, at(2), key, locking.Request{Op: locking.OpRemove}, 200)
		mustDo(t, at(1), key, get, 404)
	}
	for _, nd := range nodes {
		if nd.stats.ForwardFailures.Load() != 0 {
			t.Fatalf("%s: %d forward failures", nd.Self(), nd.stats.ForwardFailures.Load())
		}
	}
}

// An unreachable owner is an error, never a 404 or a 200.
func TestUnreachableOwnerIsNeverNotFound(t *testing.T) {
	mn, nodes := newMemCluster(t, 3)
	key := ownedBy(nodes[0], 2, "k")
	mustDo(t, nodes[0], key, put("v", 0), 200)
	mn.mu.Lock()
	mn.cut["gw3"] = true
	mn.mu.Unlock()
	for _, req := range []locking.Request{get, getX, put("x", 0), {Op: locking.OpRemove}} {
		if r, err := do(t, nodes[0], key, req); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("%v for an unreachable owner: %+v, %v", req.Op, r, err)
		}
	}
	// After an operator declares it down, its range takes new sessions.
	if err := nodes[1].DeclareDown("gw3"); err != nil {
		t.Fatal(err)
	}
	mustDo(t, nodes[0], key, get, 404)
	mustDo(t, nodes[1], key, insertU, 200)
	mustDo(t, nodes[0], key, getX, 200)
}

// seed stores n sessions through random gateways, half of them locked, and
// returns the cookie of each locked one.
func seed(t *testing.T, nodes []*Node, n int) map[string]int32 {
	locks := map[string]int32{}
	for i := range n {
		key := fmt.Sprintf("/LM/W3SVC/1/ROOT/s(%d)", i)
		nd := nodes[i%len(nodes)]
		mustDo(t, nd, key, put(fmt.Sprintf("data-%d", i), 0), 200)
		if i%2 == 0 {
			r := mustDo(t, nodes[(i+1)%len(nodes)], key, getX, 200)
			locks[key] = r.LockCookie
		}
	}
	return locks
}

// check reads every seeded session through every gateway in gws: data and
// lock state intact, and each key on exactly one store.
// While a hand-off is under way a record may briefly be on two stores (it is
// installed before it is deleted), so settled=false skips that count.
func check(t *testing.T, gws []*Node, all []*Node, n int, locks map[string]int32, settled bool) {
	t.Helper()
	for i := range n {
		key := fmt.Sprintf("/LM/W3SVC/1/ROOT/s(%d)", i)
		for _, nd := range gws {
			if c, ok := locks[key]; ok {
				r := mustDo(t, nd, key, get, 423)
				if r.LockCookie != c {
					t.Fatalf("%s: cookie %d after the move, was %d", key, r.LockCookie, c)
				}
				continue
			}
			r := mustDo(t, nd, key, get, 200)
			if string(r.Body) != fmt.Sprintf("data-%d", i) {
				t.Fatalf("%s: body %q", key, r.Body)
			}
		}
		if !settled {
			continue
		}
		holders := 0
		for _, nd := range all {
			if _, _, err := nd.mover.Peek(context.Background(), key); err == nil {
				holders++
			}
		}
		if holders != 1 {
			t.Fatalf("%s is on %d stores", key, holders)
		}
	}
}

func TestDrainAndRejoinKeepEverySession(t *testing.T) {
	mn, nodes := newMemCluster(t, 3)
	const n = 600
	locks := seed(t, nodes, n)
	left, err := nodes[1].Leave(context.Background())
	if err != nil || left != 0 {
		t.Fatalf("drain: %d left, %v", left, err)
	}
	if c, _ := nodes[1].count(context.Background()); c != 0 {
		t.Fatalf("the drained gateway still holds %d records", c)
	}
	if nodes[1].stats.MovedOut.Load() == 0 {
		t.Fatal("nothing moved")
	}
	check(t, []*Node{nodes[0], nodes[2]}, nodes, n, locks, true)
	// Stragglers reaching the drained gateway are forwarded.
	check(t, []*Node{nodes[1]}, nodes, n, locks, true)

	// gw2 comes back (a new process, an empty store) and takes its range back.
	nodes[1].Close()
	back := mn.add(t, "gw2", nodes[0].cfg.Members)
	if err := back.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	nodes[1] = back
	if st := back.view.Load().v.Entries[1]; st.State != Active {
		t.Fatalf("rejoined as %v", st)
	}
	// Requests may arrive before the hand-off ends: they pull what they need.
	check(t, nodes, nodes, n, locks, false)
	waitFor(t, func() bool {
		for _, nd := range nodes {
			if !nd.Status().HandoffIn || !nd.Status().HandoffOut {
				return false
			}
		}
		return true
	})
	check(t, nodes, nodes, n, locks, true)
	// Locks taken before the moves are still released by their cookies.
	for key, c := range locks {
		mustDo(t, nodes[0], key, put("new", c), 200)
	}
}

// The whole farm stopping at once (compose down, a deleted StatefulSet):
// with every member leaving nobody can take records, and each drain ends
// at once instead of waiting out the drain timeout; every record is still on
// exactly one store, and each Leave counts what stayed on its own.
func TestEveryMemberLeavingEndsTheDrains(t *testing.T) {
	_, nodes := newMemCluster(t, 3)
	const n = 300
	seed(t, nodes, n)
	start := time.Now() // the drain timeout is the default, 30 s
	lefts := make([]int, len(nodes))
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := nd.Leave(context.Background())
			if err != nil {
				t.Errorf("gw%d: %v", i+1, err)
			}
			lefts[i] = l
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the drains took %v: they waited for members that were leaving too", took)
	}
	total := 0
	for i, nd := range nodes {
		c, _ := nd.count(context.Background())
		if c != lefts[i] {
			t.Errorf("gw%d: Leave reported %d left, holds %d", i+1, lefts[i], c)
		}
		total += c
	}
	if total != n {
		t.Errorf("%d records on the stores after the drains, want %d (one copy each)", total, n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A gateway that missed a view change forwards to a member that no longer
// owns the key; that member says so with its view and the sender retries once.
func TestStaleViewIsCorrectedInOneRetry(t *testing.T) {
	mn, nodes := newMemCluster(t, 3)
	key := ownedBy(nodes[0], 1, "stale")
	mustDo(t, nodes[2], key, put("v", 0), 200)
	mn.mu.Lock()
	mn.cut["gw1"] = true
	mn.mu.Unlock()
	if left, err := nodes[1].Leave(context.Background()); err != nil || left != 0 {
		t.Fatalf("drain: %d, %v", left, err)
	}
	// Back, but hearing nothing of the change except through its forward:
	// the others' lease and view messages would teach it the new view first.
	mn.mu.Lock()
	mn.cut["gw1"] = false
	mn.allow = func(from, to string, kind byte) bool {
		return from == "gw1" && kind == kindOp || from != "gw1" && to != "gw1"
	}
	mn.mu.Unlock()
	defer func() { mn.mu.Lock(); mn.allow = nil; mn.mu.Unlock() }()
	if nodes[0].view.Load().v.Entries[1].State != Active {
		t.Fatal("gw1 was meant to miss the change")
	}
	r := mustDo(t, nodes[0], key, get, 200)
	if string(r.Body) != "v" {
		t.Fatalf("body %q", r.Body)
	}
	if nodes[0].stats.NotOwner.Load() != 1 {
		t.Fatalf("retries: %d", nodes[0].stats.NotOwner.Load())
	}
}
