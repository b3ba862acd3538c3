package peering_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/peering"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// The farm-wide Mover (the operators' API's view of the sessions) over real
// links: Walk sees every member's records once, Peek and Install act at the
// owner, and a member that cannot answer fails the call by name.

type walked struct {
	rec     backends.Record
	expires time.Time
	seen    int
}

// walkAll walks the farm through member i and returns what it saw.
func walkAll(t *testing.T, c *peeringtest.Cluster, i int) (map[string]*walked, error) {
	t.Helper()
	got := map[string]*walked{}
	err := c.Members[i].Node.Walk(context.Background(), func(key string, rec *backends.Record, exp time.Time) error {
		w := got[key]
		if w == nil {
			w = &walked{}
			got[key] = w
		}
		w.seen++
		w.rec, w.expires = *rec, exp
		w.rec.Data = bytes.Clone(rec.Data)
		return nil
	})
	return got, err
}

// waitHandedOff waits until every member's hand-off is complete, so that a
// walk is exact.
func waitHandedOff(t *testing.T, c *peeringtest.Cluster, only ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i, m := range c.Members {
		if len(only) > 0 && !slices.Contains(only, i) {
			continue
		}
		for st := m.Node.Status(); !st.HandoffOut || !st.HandoffIn; st = m.Node.Status() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: hand-off not complete: %+v", m.ID, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func near(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("%s: deadline %v, want about %v (off by %v)", what, got, want, d)
	}
}

func TestMoverWalkSeesEveryMemberOnce(t *testing.T) {
	c := peeringtest.New(t, 3, peeringtest.Options{Frontends: true})
	bodies := map[string][]byte{}
	locked := map[string]int32{}
	for owner := range c.Members {
		via := &stateclient.Conn{Addr: c.Members[(owner+1)%3].FrontAddr}
		for s := 0; s < 5; s++ {
			u := targetOwnedBy(t, c, owner, fmt.Sprintf("walk%d-%d-", owner, s))
			body := []byte(fmt.Sprintf("session %d of %s", s, c.Members[owner].ID))
			if resp := mustDo(t, via, stateclient.Put(u, -1, body)); resp.Status != 200 {
				t.Fatalf("put: %d", resp.Status)
			}
			bodies[keyOf(t, u)] = body
			if s == 0 {
				resp := mustDo(t, via, stateclient.Acquire(u))
				if resp.Status != 200 {
					t.Fatalf("acquire: %d", resp.Status)
				}
				locked[keyOf(t, u)] = resp.LockCookie.Value
			}
		}
		via.Close()
	}
	waitHandedOff(t, c)
	for i, m := range c.Members {
		got, err := walkAll(t, c, i)
		if err != nil {
			t.Fatalf("walk via %s: %v", m.ID, err)
		}
		now := time.Now()
		if len(got) != len(bodies) {
			t.Errorf("walk via %s: %d records, want %d", m.ID, len(got), len(bodies))
		}
		for k, w := range got {
			switch body, ok := bodies[k]; {
			case !ok:
				t.Errorf("walk via %s: unknown key %q", m.ID, k)
			case w.seen != 1:
				t.Errorf("walk via %s: %q seen %d times", m.ID, k, w.seen)
			case !bytes.Equal(w.rec.Data, body) || w.rec.Timeout != 20:
				t.Errorf("walk via %s: %q is %q (timeout %d), want %q", m.ID, k, w.rec.Data, w.rec.Timeout, body)
			}
			cookie, isLocked := locked[k]
			if w.rec.Locked != isLocked || (isLocked && (w.rec.LockCookie != cookie || w.rec.LockDate.IsZero())) {
				t.Errorf("walk via %s: %q lock %v cookie %d date %v, want locked %v cookie %d", m.ID, k,
					w.rec.Locked, w.rec.LockCookie, w.rec.LockDate, isLocked, cookie)
			}
			near(t, "walk via "+m.ID+" "+k, w.expires, now.Add(20*time.Minute))
		}
	}
	checkNoMoves(t, c)
}

func TestMoverPeekAndInstallAtTheOwner(t *testing.T) {
	c := peeringtest.New(t, 3, peeringtest.Options{Frontends: true})
	ctx := context.Background()
	u := targetOwnedBy(t, c, 1, "inst")
	key := keyOf(t, u)
	lockDate := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	rec := backends.Record{Data: []byte("imported"), Timeout: 30, Locked: true, LockCookie: 7, LockDate: lockDate}
	gw1, gw3 := c.Members[0].Node, c.Members[2].Node

	stored, err := gw1.Install(ctx, key, rec, time.Now().Add(10*time.Minute), false)
	if err != nil || !stored {
		t.Fatalf("Install via gw1 at gw2: %v %v", stored, err)
	}
	// It is in gw2's store, with its remaining lifetime, and nowhere else.
	r, exp, err := c.Members[1].Store.(backends.Mover).Peek(ctx, key)
	if err != nil || string(r.Data) != "imported" || !r.Locked || r.LockCookie != 7 || !r.LockDate.Equal(lockDate) || r.Timeout != 30 {
		t.Fatalf("gw2's store: %+v %v", r, err)
	}
	near(t, "gw2's store", exp, time.Now().Add(10*time.Minute))
	for _, i := range []int{0, 2} {
		if _, _, err := c.Members[i].Store.(backends.Mover).Peek(ctx, key); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("%s's store has the record: %v", c.Members[i].ID, err)
		}
	}
	for _, nd := range []*peering.Node{gw1, c.Members[1].Node, gw3} {
		r, exp, err := nd.Peek(ctx, key)
		if err != nil || string(r.Data) != "imported" || r.LockCookie != 7 || !r.LockDate.Equal(lockDate) {
			t.Fatalf("Peek via %s: %+v %v", nd.Self(), r, err)
		}
		near(t, "Peek via "+nd.Self(), exp, time.Now().Add(10*time.Minute))
	}
	// Without replace an existing record stays; with it, it is replaced.
	other := backends.Record{Data: []byte("other"), Timeout: 20}
	if stored, err := gw3.Install(ctx, key, other, time.Now().Add(time.Hour), false); err != nil || stored {
		t.Fatalf("Install without replace over a record: %v %v", stored, err)
	}
	if r, _, _ := gw1.Peek(ctx, key); string(r.Data) != "imported" {
		t.Fatalf("Install without replace overwrote: %q", r.Data)
	}
	// The imported lock holds for the web servers, with its cookie.
	cl := &stateclient.Conn{Addr: c.Members[2].FrontAddr}
	defer cl.Close()
	if resp := mustDo(t, cl, stateclient.Acquire(u)); resp.Status != 423 || resp.LockCookie.Value != 7 {
		t.Fatalf("GetExclusive of the imported locked session: %d cookie %d", resp.Status, resp.LockCookie.Value)
	}
	if stored, err := gw3.Install(ctx, key, other, time.Now().Add(time.Hour), true); err != nil || !stored {
		t.Fatalf("Install with replace: %v %v", stored, err)
	}
	if resp := mustDo(t, cl, stateclient.Get(u)); resp.Status != 200 || string(resp.Body) != "other" {
		t.Fatalf("Get after the replace: %d %q", resp.Status, resp.Body)
	}
	// A deadline already past stores nothing.
	gone := keyOf(t, targetOwnedBy(t, c, 2, "past"))
	if stored, err := gw1.Install(ctx, gone, other, time.Now().Add(-time.Second), true); err != nil || stored {
		t.Fatalf("Install with a past deadline: %v %v", stored, err)
	}
	if _, _, err := gw1.Peek(ctx, gone); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Peek of an absent key at gw3: %v, want ErrNotFound", err)
	}

	// A stopped owner is an error naming it, never "not found", and so is a
	// walk that needs it.
	c.Kill(2)
	if _, _, err := gw1.Peek(ctx, gone); err == nil || errors.Is(err, backends.ErrNotFound) || !strings.Contains(err.Error(), "gw3") {
		t.Fatalf("Peek at a stopped owner: %v", err)
	}
	if _, err := gw1.Install(ctx, gone, other, time.Now().Add(time.Hour), false); err == nil || !strings.Contains(err.Error(), "gw3") {
		t.Fatalf("Install at a stopped owner: %v", err)
	}
	if _, err := walkAll(t, c, 0); err == nil || !strings.Contains(err.Error(), "gw3") {
		t.Fatalf("Walk with a stopped member: %v", err)
	}
}

// 20k records spread over the farm, walked while web servers keep working
// through every gateway: each record once, every request answered.
func TestMoverWalkManyUnderLoad(t *testing.T) {
	const total = 20000
	c := peeringtest.New(t, 3, peeringtest.Options{Frontends: true})
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	want := map[string]bool{}
	for i := 0; len(want) < total; i++ {
		k := fmt.Sprintf("/LM/W3SVC/1/ROOT/Bulk(%08dxxxxxxxxxxxxxx)", i)
		owner := c.Owner(0, k)
		rec := backends.Record{Data: []byte(k), Timeout: 60}
		if _, err := c.Members[owner].Store.(backends.Mover).Install(ctx, k, rec, exp, false); err != nil {
			t.Fatal(err)
		}
		want[k] = true
	}
	waitHandedOff(t, c)

	// Web servers: a cycle of Get, GetExclusive, PUT, on their own sessions.
	var (
		stop     atomic.Bool
		ops      atomic.Int64
		created  atomic.Int64 // web servers whose session exists
		failures atomic.Int64
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &stateclient.Conn{Addr: c.Members[w%3].FrontAddr}
			defer cl.Close()
			u := stateclient.Target(fmt.Sprintf("load%dxxxxxxxxxxxxxxxxxxxx", w))
			fail := func(what string, err error, status int) {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v status %d", what, err, status))
			}
			if resp, err := cl.Do(stateclient.Put(u, -1, []byte("0"))); err != nil || resp.Status != 200 {
				fail("create", err, resp.Status)
				return
			}
			created.Add(1)
			for !stop.Load() {
				resp, err := cl.Do(stateclient.Acquire(u))
				if err != nil || resp.Status != 200 {
					fail("acquire", err, resp.Status)
					return
				}
				if resp, err = cl.Do(stateclient.Put(u, resp.LockCookie.Value, []byte("n"))); err != nil || resp.Status != 200 {
					fail("put", err, resp.Status)
					return
				}
				ops.Add(2)
			}
		}()
	}
	// Every web server's session exists before the walk starts (it must
	// see all six), and some requests have completed.
	for (created.Load() < 6 || ops.Load() < 20) && failures.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	before := ops.Load()
	start := time.Now()
	got := map[string]int{}
	err := c.Members[0].Node.Walk(ctx, func(key string, rec *backends.Record, _ time.Time) error {
		got[key]++
		if want[key] && string(rec.Data) != key {
			return fmt.Errorf("%q has data %q", key, rec.Data)
		}
		if len(got)%1000 == 0 {
			time.Sleep(5 * time.Millisecond) // a consumer that takes its time
		}
		return nil
	})
	took := time.Since(start)
	during := ops.Load() - before
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d requests failed during the walk; first: %v", f, firstErr.Load())
	}
	t.Logf("walked %d records in %v while web servers completed %d requests", len(got), took.Round(time.Millisecond), during)
	if during == 0 {
		t.Errorf("no request completed during a walk of %v", took)
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%q seen %d times", k, got[k])
		}
	}
	if len(got) != total+6 {
		t.Errorf("walk saw %d keys, want %d records and 6 web servers' sessions", len(got), total)
	}
}

// A link cut in the middle of a member's pages fails the walk with that
// member's name; the listing is never silently short.
func TestMoverWalkCutMidWalk(t *testing.T) {
	c := peeringtest.New(t, 3, peeringtest.Options{})
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	n := 0
	for i := 0; n < 2000; i++ {
		k := fmt.Sprintf("cut-%d", i)
		if c.Owner(0, k) != 1 {
			continue
		}
		if _, err := c.Members[1].Store.(backends.Mover).Install(ctx, k, backends.Record{Data: []byte("x"), Timeout: 60}, exp, false); err != nil {
			t.Fatal(err)
		}
		n++
	}
	waitHandedOff(t, c)
	seen := 0
	err := c.Members[0].Node.Walk(ctx, func(key string, _ *backends.Record, _ time.Time) error {
		if c.Owner(0, key) == 1 {
			if seen == 0 {
				c.Cut([]int{0}, []int{1})
			}
			seen++
		}
		return nil
	})
	c.Heal()
	if err == nil || !strings.Contains(err.Error(), "gw2") {
		t.Fatalf("walk across a cut link: %v (saw %d of %d of gw2's records)", err, seen, n)
	}
	if seen >= n {
		t.Fatalf("saw all %d records across a cut", seen)
	}
	t.Logf("walk across a cut: %v after %d of %d records", err, seen, n)
}

// A member drains while a walk is under way: the walk passes what it sees and
// says it may be inexact; once the hand-off is complete a walk is exact again.
func TestMoverWalkDuringADrainIsUnsettled(t *testing.T) {
	c := peeringtest.New(t, 3, peeringtest.Options{})
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	want := map[string]bool{}
	for i := 0; len(want) < 3000; i++ {
		k := fmt.Sprintf("drain-%d", i)
		if _, err := c.Members[c.Owner(0, k)].Store.(backends.Mover).Install(ctx, k,
			backends.Record{Data: []byte(k), Timeout: 60}, exp, false); err != nil {
			t.Fatal(err)
		}
		want[k] = true
	}
	waitHandedOff(t, c)
	drained := false
	_, err := walkAllThen(t, c, 0, func() {
		if !drained {
			drained = true
			if left, err := c.Members[2].Node.Leave(ctx); err != nil || left != 0 {
				t.Errorf("gw3's drain: %d left, %v", left, err)
			}
		}
	})
	if !errors.Is(err, peering.ErrWalkUnsettled) {
		t.Fatalf("walk during a drain: %v, want ErrWalkUnsettled", err)
	}
	// gw3 is gone, its records are with gw1 and gw2: an exact walk again.
	waitHandedOff(t, c, 0, 1)
	for _, i := range []int{0, 1} {
		got, err := walkAll(t, c, i)
		if err != nil {
			t.Fatalf("walk via %s after the drain: %v", c.Members[i].ID, err)
		}
		if len(got) != len(want) {
			t.Errorf("walk via %s after the drain: %d records, want %d", c.Members[i].ID, len(got), len(want))
		}
		for k, w := range got {
			if !want[k] || w.seen != 1 || string(w.rec.Data) != k {
				t.Errorf("walk via %s after the drain: %q seen %d times, data %q", c.Members[i].ID, k, w.seen, w.rec.Data)
			}
		}
	}
}

// walkAllThen is walkAll that calls each() after each record.
func walkAllThen(t *testing.T, c *peeringtest.Cluster, i int, each func()) (map[string]int, error) {
	t.Helper()
	got := map[string]int{}
	err := c.Members[i].Node.Walk(context.Background(), func(key string, _ *backends.Record, _ time.Time) error {
		got[key]++
		each()
		return nil
	})
	return got, err
}
