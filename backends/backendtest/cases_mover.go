package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// moverCases are run for stores that implement backends.Mover; a store that
// does not gets the single case MoverNotImplemented, which passes and says so.
func moverCases(h Harness) []testCase {
	cs := []testCase{
		{"WalkSeesEveryRecord", testWalkSeesEveryRecord},
		{"WalkHidesExpiredAndDeleted", testWalkHidesExpiredAndDeleted},
		{"WalkStopsOnError", testWalkStopsOnError},
		{"PeekDoesNotSlide", testPeekDoesNotSlide},
		{"InstallKeepsRemainingLifetime", testInstallKeepsRemainingLifetime},
		{"InstallWithoutReplace", testInstallWithoutReplace},
		{"InstallReplace", testInstallReplace},
		{"InstallPastDeadline", testInstallPastDeadline},
		{"WalkConcurrentWithApply", testWalkConcurrentWithApply},
		{"WalkCallbackUsesStore", testWalkCallbackUsesStore},
		{"MoverUseAfterClose", testMoverUseAfterClose},
	}
	if h.Durable {
		cs = append(cs, testCase{"InstallReopenPersists", testInstallReopenPersists})
	}
	return cs
}

func testMoverNotImplemented(t *testing.T, _ Harness) {
	t.Log("N/A: the store does not implement backends.Mover; its cases were not run")
}

func (e *env) mover() backends.Mover {
	e.t.Helper()
	m, ok := e.b.(backends.Mover)
	if !ok {
		e.t.Fatalf("%T does not implement backends.Mover", e.b)
	}
	return m
}

// walked is what one Walk call saw of one key.
type walkedRec struct {
	rec     backends.Record
	expires time.Time
	seen    int
}

// walk walks the store and returns a copy of what it saw, by key, failing
// the test if Walk fails.
func (e *env) walk() map[string]*walkedRec {
	e.t.Helper()
	got := map[string]*walkedRec{}
	err := e.mover().Walk(e.ctx, func(key string, rec *backends.Record, expires time.Time) error {
		if w := got[key]; w != nil {
			w.seen++
			return nil
		}
		r := *rec
		r.Data = bytes.Clone(rec.Data)
		got[key] = &walkedRec{rec: r, expires: expires, seen: 1}
		return nil
	})
	if err != nil {
		e.t.Fatalf("Walk: %v", err)
	}
	return got
}

func (e *env) peek(key string) (backends.Record, time.Time) {
	e.t.Helper()
	r, exp, err := e.mover().Peek(e.ctx, key)
	if err != nil {
		e.t.Fatalf("Peek(%q): %v", key, err)
	}
	return r, exp
}

func (e *env) mustNotPeek(key string) {
	e.t.Helper()
	r, _, err := e.mover().Peek(e.ctx, key)
	if !errors.Is(err, backends.ErrNotFound) {
		e.t.Fatalf("Peek(%q) = %+v, %v; want ErrNotFound", key, summary(r), err)
	}
}

// wantPeek checks key's record and deadline without sliding it.
func (e *env) wantPeek(key string, want backends.Record, expires time.Time) {
	e.t.Helper()
	got, exp := e.peek(key)
	if d := diffRecord(got, want); d != "" {
		e.t.Fatalf("Peek(%q):%s", key, d)
	}
	if !exp.Equal(expires) {
		e.t.Fatalf("Peek(%q): deadline %v, want %v (off by %v)", key, exp, expires, exp.Sub(expires))
	}
}

func (e *env) install(key string, r backends.Record, expires time.Time, replace bool) bool {
	e.t.Helper()
	stored, err := e.mover().Install(e.ctx, key, r, expires, replace)
	if err != nil {
		e.t.Fatalf("Install(%q): %v", key, err)
	}
	return stored
}

func testWalkSeesEveryRecord(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if got := e.walk(); len(got) != 0 {
		t.Fatalf("Walk of an empty store saw %d records", len(got))
	}
	start := e.clock.Now()
	want := map[string]backends.Record{}
	deadline := map[string]time.Time{}
	put := func(key string, r backends.Record) {
		e.put(key, r)
		want[key] = r
		deadline[key] = e.clock.Now().Add(r.TTL())
	}
	put("full", fullRecord(start))
	put("empty", backends.Record{Data: []byte{}, Timeout: 5, LockCookie: 9})
	put("zero", backends.Record{Data: []byte("z"), Timeout: 1, LockCookie: -1})
	e.clock.Advance(7*time.Second + 3*time.Millisecond) // deadlines differ from key to key
	for i, k := range binaryKeys() {
		put(k, backends.Record{Data: fmt.Appendf(nil, "%d:%q", i, k), Timeout: int32(2 + i), LockCookie: int32(i),
			Locked: i%2 == 0, LockDate: start.Add(time.Duration(i) * time.Nanosecond), Uninitialized: i%3 == 0})
	}
	e.clock.Advance(time.Second)
	// A lock taken by a transition, aliasing the stored data, slides too.
	lockDate := e.clock.Now().Add(-987654321)
	e.apply("zero", func(cur *backends.Record) backends.Change {
		r := *cur
		r.Locked, r.LockCookie, r.LockDate = true, 0, lockDate
		return backends.Change{Action: backends.Store, Record: r}
	})
	want["zero"] = backends.Record{Data: []byte("z"), Timeout: 1, Locked: true, LockDate: lockDate}
	deadline["zero"] = e.clock.Now().Add(time.Minute)
	// Enough records that a store walking in pages needs several.
	const many = 600
	var wg sync.WaitGroup
	for g := range concGoroutines {
		wg.Go(func() {
			for i := g; i < many; i += concGoroutines {
				key := fmt.Sprintf("many/%04d", i)
				if err := backends.Put(e.ctx, e.b, key, backends.Record{Data: []byte(key), Timeout: 20, LockCookie: int32(i)}); err != nil {
					t.Errorf("Put(%q): %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range many {
		key := fmt.Sprintf("many/%04d", i)
		want[key] = backends.Record{Data: []byte(key), Timeout: 20, LockCookie: int32(i)}
		deadline[key] = e.clock.Now().Add(20 * time.Minute)
	}

	for round := range 2 { // a Walk slides nothing, so a second one sees the same
		got := e.walk()
		for key, w := range want {
			g := got[key]
			switch {
			case g == nil:
				t.Errorf("round %d: Walk did not see %q", round, key)
			case g.seen != 1:
				t.Errorf("round %d: Walk saw %q %d times", round, key, g.seen)
			default:
				if d := diffRecord(g.rec, w); d != "" {
					t.Errorf("round %d: Walk saw %q:%s", round, key, d)
				}
				if !g.expires.Equal(deadline[key]) {
					t.Errorf("round %d: Walk gave %q the deadline %v, want %v (off by %v)",
						round, key, g.expires, deadline[key], g.expires.Sub(deadline[key]))
				}
			}
		}
		for key := range got {
			if _, ok := want[key]; !ok {
				t.Errorf("round %d: Walk saw %q, which was never stored", round, key)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	// The walks did not slide "zero" (Timeout 1).
	e.clock.Advance(time.Minute + margin)
	e.mustNotFind("zero")
}

func testWalkHidesExpiredAndDeleted(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("short", rec("s", 1))
	e.put("long", rec("l", 20))
	e.put("deleted", rec("d", 20))
	e.put("locked", backends.Record{Data: []byte("x"), Timeout: 1, Locked: true, LockCookie: 3, LockDate: e.clock.Now()})
	if err := backends.Remove(e.ctx, e.b, "deleted"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute - margin)
	if got := e.walk(); len(got) != 3 || got["short"] == nil || got["long"] == nil || got["locked"] == nil {
		t.Fatalf("1 ms before the 1-min deadlines Walk saw %v, want short, long and locked", keysOf(got))
	}
	e.clock.Advance(2 * margin) // no sweep has run on the test clock
	got := e.walk()
	if len(got) != 1 || got["long"] == nil {
		t.Fatalf("1 ms after the 1-min deadlines Walk saw %v, want only long", keysOf(got))
	}
}

func keysOf(m map[string]*walkedRec) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func testWalkStopsOnError(t *testing.T, h Harness) {
	e := newEnv(t, h)
	for i := range 5 {
		e.put(fmt.Sprint("k", i), rec("v", 20))
	}
	stop := errors.New("stop here")
	calls := 0
	err := e.mover().Walk(e.ctx, func(string, *backends.Record, time.Time) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk whose fn fails = %v after %d calls, want the fn's error after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	calls = 0
	err = e.mover().Walk(ctx, func(string, *backends.Record, time.Time) error {
		calls++
		return nil
	})
	if err == nil && calls != 0 {
		t.Fatalf("Walk with a cancelled context called fn %d times and returned nil", calls)
	}
}

func testPeekDoesNotSlide(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.mustNotPeek("absent")
	full := fullRecord(e.clock.Now())
	full.Timeout = 2
	e.put("k", full)
	dl := e.clock.Now().Add(2 * time.Minute)
	for range 3 {
		e.clock.Advance(30 * time.Second)
		e.wantPeek("k", full, dl)
	}
	// Peek's Data belongs to the caller.
	got, _ := e.peek("k")
	for i := range got.Data {
		got.Data[i] = '!'
	}
	e.clock.Advance(30*time.Second - margin) // 2 min - 1 ms after the Put
	e.wantPeek("k", full, dl)
	e.clock.Advance(2 * margin)
	e.mustNotPeek("k")
	e.mustNotFind("k")
}

func testInstallKeepsRemainingLifetime(t *testing.T, h Harness) {
	e := newEnv(t, h)
	full := fullRecord(e.clock.Now()) // Timeout 525600 minutes
	dl := e.clock.Now().Add(3*time.Minute + 17*time.Millisecond)
	if !e.install("full", full, dl, false) {
		t.Fatal("Install on an absent key did not store")
	}
	other := rec("slides later", 20)
	if !e.install("other", other, dl, false) {
		t.Fatal("Install on an absent key did not store")
	}
	e.wantPeek("full", full, dl)
	if got := e.walk(); got["full"] == nil || !got["full"].expires.Equal(dl) || diffRecord(got["full"].rec, full) != "" {
		t.Fatalf("Walk after Install: %+v, want the installed record with deadline %v", got["full"], dl)
	}
	// The transition sees everything Install stored.
	e.apply("full", func(cur *backends.Record) backends.Change {
		if cur == nil {
			t.Error("transition saw nil for an installed record")
		} else if d := diffRecord(*cur, full); d != "" {
			t.Errorf("transition saw:%s", d)
		}
		return backends.Change{Action: backends.Keep}
	}) // slides "full" to now + a year

	// "other" expires at the installed deadline, not now + 20 min...
	e.clock.Advance(2 * time.Minute)
	e.wantPeek("other", other, dl)
	e.clock.Advance(time.Minute + 17*time.Millisecond - margin)
	e.wantPeek("other", other, dl)
	e.clock.Advance(2 * margin)
	e.mustNotPeek("other")
	e.mustNotFind("other")
	// ...while the Apply slid "full" normally, by its Timeout.
	e.wantRecord("full", full)

	// An installed record slides normally on its next Apply.
	dl = e.clock.Now().Add(time.Minute)
	e.install("slides", other, dl, false)
	e.clock.Advance(30 * time.Second)
	if !e.touch("slides") { // now + 20 min
		t.Fatal("installed record not found")
	}
	e.clock.Advance(20*time.Minute - margin)
	e.wantPeek("slides", other, e.clock.Now().Add(margin))
	e.clock.Advance(2 * margin)
	e.mustNotFind("slides")
}

func testInstallWithoutReplace(t *testing.T, h Harness) {
	e := newEnv(t, h)
	live := rec("live", 20)
	e.put("k", live)
	liveDL := e.clock.Now().Add(20 * time.Minute)
	other := backends.Record{Data: []byte("installed"), Timeout: 5, Locked: true, LockCookie: 4, LockDate: e.clock.Now()}
	if e.install("k", other, e.clock.Now().Add(time.Hour), false) {
		t.Fatal("Install without replace reported storing over a live record")
	}
	e.wantPeek("k", live, liveDL) // neither replaced nor slid

	// An expired record is as good as absent.
	e.put("x", rec("expiring", 1))
	e.clock.Advance(time.Minute + margin)
	dl := e.clock.Now().Add(4 * time.Minute)
	if !e.install("x", other, dl, false) {
		t.Fatal("Install without replace did not store over an expired record")
	}
	e.wantPeek("x", other, dl)
	e.wantRecord("x", other)
}

func testInstallReplace(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("old, a longer value", 30))
	other := backends.Record{Data: []byte("new"), Timeout: 20, Uninitialized: true, LockCookie: 8}
	dl := e.clock.Now().Add(2 * time.Minute) // earlier than the old deadline
	if !e.install("k", other, dl, true) {
		t.Fatal("Install with replace did not store over a live record")
	}
	e.wantPeek("k", other, dl)
	e.clock.Advance(2*time.Minute + margin)
	e.mustNotFind("k")
	// And on an absent key.
	if !e.install("absent", other, e.clock.Now().Add(time.Minute), true) {
		t.Fatal("Install with replace did not store on an absent key")
	}
	e.wantRecord("absent", other)
}

func testInstallPastDeadline(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if e.install("k", rec("v", 20), e.clock.Now().Add(-margin), false) {
		t.Fatal("Install with a past deadline reported storing")
	}
	if e.install("k", rec("v", 20), e.clock.Now().Add(-48*time.Hour), true) {
		t.Fatal("Install with a past deadline and replace reported storing")
	}
	e.mustNotPeek("k")
	e.mustNotFind("k")
	// Nor does it disturb a live record, even with replace.
	e.put("live", rec("live", 20))
	if e.install("live", rec("other", 20), e.clock.Now().Add(-margin), true) {
		t.Fatal("Install with a past deadline reported replacing a live record")
	}
	e.wantPeek("live", rec("live", 20), e.clock.Now().Add(20*time.Minute))
}

func testInstallReopenPersists(t *testing.T, h Harness) {
	e := newEnv(t, h)
	full := fullRecord(e.clock.Now())
	fullDL := e.clock.Now().Add(7*time.Minute + 5*time.Millisecond)
	e.install("full", full, fullDL, false)
	e.put("replaced", rec("before", 20))
	plain := rec("after", 20)
	plainDL := e.clock.Now().Add(3 * time.Minute)
	e.install("replaced", plain, plainDL, true)
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.clock.Advance(time.Minute)
	e.b = e.open()
	e.wantPeek("full", full, fullDL)
	e.wantPeek("replaced", plain, plainDL)
	got := e.walk()
	if len(got) != 2 || got["full"] == nil || !got["full"].expires.Equal(fullDL) {
		t.Fatalf("Walk after reopen saw %v (full: %+v), want full with deadline %v", keysOf(got), got["full"], fullDL)
	}
	e.clock.Advance(2*time.Minute + margin)
	e.mustNotFind("replaced") // kept the installed deadline, not the Put's
	e.clock.Advance(4*time.Minute + 5*time.Millisecond - 2*margin)
	e.wantPeek("full", full, fullDL)
	e.clock.Advance(2 * margin)
	e.mustNotFind("full")
}

// testWalkConcurrentWithApply walks while other goroutines write: keys that
// exist for the whole walk are seen exactly once each, with a consistent
// record; no key is seen twice. Run it with -race.
func testWalkConcurrentWithApply(t *testing.T, h Harness) {
	e := newEnv(t, h)
	const stable = 300
	base := e.clock.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	for g := range concGoroutines {
		wg.Go(func() {
			for i := g; i < stable; i += concGoroutines {
				if err := backends.Put(e.ctx, e.b, fmt.Sprintf("stable/%03d", i), consistent(int32(i), base)); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for g := range 4 {
		writers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (g*97 + n*13) % stable
				key := fmt.Sprintf("stable/%03d", i)
				// Rewrite a stable key with another consistent version...
				v := int32(i + stable*(1+n%5))
				if err := backends.Put(e.ctx, e.b, key, consistent(v, base)); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				// ...read one, and create and delete a churning key.
				if _, err := backends.Get(e.ctx, e.b, key); err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				churn := fmt.Sprintf("churn/%d/%d", g, n%7)
				if n%2 == 0 {
					err := backends.Put(e.ctx, e.b, churn, rec("c", 20))
					if err != nil {
						t.Errorf("Put: %v", err)
						return
					}
				} else if err := backends.Remove(e.ctx, e.b, churn); err != nil && !errors.Is(err, backends.ErrNotFound) {
					t.Errorf("Remove: %v", err)
					return
				}
			}
		})
	}
	for range 3 {
		seen := map[string]int{}
		err := e.mover().Walk(e.ctx, func(key string, r *backends.Record, _ time.Time) error {
			seen[key]++
			if strings.HasPrefix(key, "stable/") {
				if len(r.Data) < 4 {
					return fmt.Errorf("%q: %d bytes of data", key, len(r.Data))
				}
				v := int32(uint32(r.Data[0])<<24 | uint32(r.Data[1])<<16 | uint32(r.Data[2])<<8 | uint32(r.Data[3]))
				if d := diffRecord(*r, consistent(v, base)); d != "" || r.LockCookie != v {
					return fmt.Errorf("%q: a mixed record for version %d:%s", key, v, d)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("Walk: %v", err)
			break
		}
		for i := range stable {
			if n := seen[fmt.Sprintf("stable/%03d", i)]; n != 1 {
				t.Errorf("Walk saw stable/%03d %d times, want once", i, n)
			}
		}
		for k, n := range seen {
			if n > 1 {
				t.Errorf("Walk saw %q %d times", k, n)
			}
		}
	}
	close(stop)
	writers.Wait()
}

// testWalkCallbackUsesStore calls every method of the store from inside fn,
// on the key being walked and on others: a Walk that held a lock those need
// would deadlock here.
func testWalkCallbackUsesStore(t *testing.T, h Harness) {
	e := newEnv(t, h)
	const n = 20
	for i := range n {
		e.put(fmt.Sprint("k", i), rec(fmt.Sprint("v", i), 20))
	}
	m := e.mover()
	calls := 0
	err := m.Walk(e.ctx, func(key string, r *backends.Record, expires time.Time) error {
		if strings.HasPrefix(key, "copy/") {
			return nil // installed by this walk
		}
		calls++
		if _, _, err := m.Peek(e.ctx, key); err != nil {
			return fmt.Errorf("Peek(%q) inside Walk: %w", key, err)
		}
		// A lock cycle on the walked key, as a request arriving meanwhile.
		if err := e.b.Apply(e.ctx, key, func(cur *backends.Record) backends.Change {
			if cur == nil {
				return backends.Change{Action: backends.Keep}
			}
			c := *cur
			c.Locked, c.LockCookie = true, cur.LockCookie+1
			return backends.Change{Action: backends.Store, Record: c}
		}); err != nil {
			return fmt.Errorf("Apply(%q) inside Walk: %w", key, err)
		}
		// Install the walked record under another key (what an import does),
		// and over the walked key itself.
		if _, err := m.Install(e.ctx, "copy/"+key, *r, expires, false); err != nil {
			return fmt.Errorf("Install inside Walk: %w", err)
		}
		if _, err := m.Install(e.ctx, key, *r, expires, true); err != nil {
			return fmt.Errorf("Install over %q inside Walk: %w", key, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < n {
		t.Fatalf("Walk called fn %d times, want at least %d", calls, n)
	}
	for i := range n {
		key := fmt.Sprint("k", i)
		want := rec(fmt.Sprint("v", i), 20)
		e.wantRecord(key, want) // the Install put the walked (unlocked) record back
		e.wantRecord("copy/"+key, want)
	}
}

func testMoverUseAfterClose(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("v", 20))
	m := e.mover()
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Walk(e.ctx, func(string, *backends.Record, time.Time) error { return nil }); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Walk after Close = %v, want ErrClosed", err)
	}
	if _, _, err := m.Peek(e.ctx, "k"); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Peek after Close = %v, want ErrClosed", err)
	}
	if stored, err := m.Install(e.ctx, "k2", rec("v", 20), e.clock.Now().Add(time.Minute), true); !errors.Is(err, backends.ErrClosed) || stored {
		t.Errorf("Install after Close = %v, %v; want false, ErrClosed", stored, err)
	}
}
