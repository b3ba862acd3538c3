package backendtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// batchCases are run for stores that implement backends.BatchMover: each
// record of a batch must behave exactly as Mover.Install (or a deleting
// Apply) would.
func batchCases(h Harness) []testCase {
	cs := []testCase{
		{"InstallBatchReplaceAndNot", testInstallBatchReplaceAndNot},
		{"InstallBatchPastDeadlineAndTooLarge", testInstallBatchPastDeadlineAndTooLarge},
		{"RemoveBatch", testRemoveBatch},
		{"BatchConcurrentWithApply", testBatchConcurrentWithApply},
		{"BatchUseAfterClose", testBatchUseAfterClose},
	}
	if h.Durable {
		cs = append(cs, testCase{"BatchReopenPersists", testBatchReopenPersists})
	}
	return cs
}

func (e *env) batchMover() backends.BatchMover {
	e.t.Helper()
	m, ok := e.b.(backends.BatchMover)
	if !ok {
		e.t.Fatalf("%T does not implement backends.BatchMover", e.b)
	}
	return m
}

// installBatch installs batch, failing the test on a whole-batch error.
func (e *env) installBatch(batch []backends.Install) {
	e.t.Helper()
	if err := e.batchMover().InstallBatch(e.ctx, batch); err != nil {
		e.t.Fatalf("InstallBatch: %v", err)
	}
}

// wantStored checks each record's Stored against want and that none failed.
func wantStored(t *testing.T, batch []backends.Install, want ...bool) {
	t.Helper()
	for i, in := range batch {
		if in.Err != nil {
			t.Errorf("InstallBatch record %d (%q): %v", i, in.Key, in.Err)
		}
		if in.Stored != want[i] {
			t.Errorf("InstallBatch record %d (%q): stored %v, want %v", i, in.Key, in.Stored, want[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func testInstallBatchReplaceAndNot(t *testing.T, h Harness) {
	e := newEnv(t, h)
	live := rec("live", 20)
	e.put("live", live)
	e.put("replaced", rec("old, a longer value", 30))
	e.put("expired", rec("expiring", 1))
	e.clock.Advance(time.Minute + margin)
	liveDL := e.clock.Now().Add(20 * time.Minute)
	e.touch("live") // slides to liveDL
	full := fullRecord(e.clock.Now())
	other := backends.Record{Data: []byte("installed"), Timeout: 5, Locked: true, LockCookie: 4, LockDate: e.clock.Now()}
	dl := e.clock.Now().Add(3*time.Minute + 17*time.Millisecond)
	later := dl.Add(time.Minute)
	batch := []backends.Install{
		{Key: "live", Record: other, Expires: dl},                               // not over a live record
		{Key: "expired", Record: other, Expires: dl},                            // an expired one is as good as absent
		{Key: "absent", Record: full, Expires: dl},                              // the whole record, the given deadline
		{Key: "replaced", Record: other, Expires: dl, Replace: true},            // over a live record
		{Key: "dup", Record: rec("first", 20), Expires: dl},                     // a key twice, in order:
		{Key: "dup", Record: rec("second", 20), Expires: later},                 // the first one is live now
		{Key: "dup2", Record: rec("first", 20), Expires: dl},                    //
		{Key: "dup2", Record: rec("second", 20), Expires: later, Replace: true}, // the later one wins
	}
	e.installBatch(batch)
	wantStored(t, batch, false, true, true, true, true, false, true, true)
	e.wantPeek("live", live, liveDL) // neither replaced nor slid
	e.wantPeek("expired", other, dl)
	e.wantPeek("absent", full, dl)
	e.wantPeek("replaced", other, dl)
	e.wantPeek("dup", rec("first", 20), dl)
	e.wantPeek("dup2", rec("second", 20), later)
	got := e.walk()
	if len(got) != 6 || got["absent"] == nil || !got["absent"].expires.Equal(dl) || diffRecord(got["absent"].rec, full) != "" {
		t.Fatalf("Walk after InstallBatch saw %v (absent: %+v)", keysOf(got), got["absent"])
	}
	// The transition sees what was installed, and the next Apply slides it
	// by its Timeout as usual.
	e.wantRecord("expired", other) // now + 5 min
	e.clock.Advance(3*time.Minute + 17*time.Millisecond + margin)
	e.mustNotFind("replaced") // the installed deadline, not the Put's
	e.wantRecord("expired", other)
	e.clock.Advance(time.Minute)
	e.mustNotPeek("dup2")
	e.wantRecord("live", live)
	// An empty batch is nothing.
	e.installBatch(nil)
}

func testInstallBatchPastDeadlineAndTooLarge(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("live", rec("live", 20))
	now := e.clock.Now()
	batch := []backends.Install{
		{Key: "k", Record: rec("v", 20), Expires: now.Add(-margin)},
		{Key: "k2", Record: rec("v", 20), Expires: now.Add(-48 * time.Hour), Replace: true},
		{Key: "live", Record: rec("other", 20), Expires: now.Add(-margin), Replace: true}, // nor does it disturb a live record
		{Key: "now", Record: rec("v", 20), Expires: now},                                  // at now is past
		{Key: "ok", Record: rec("v", 20), Expires: now.Add(time.Minute)},
	}
	e.installBatch(batch)
	wantStored(t, batch, false, false, false, false, true)
	e.mustNotPeek("k")
	e.mustNotFind("k2")
	e.mustNotPeek("now")
	e.wantPeek("live", rec("live", 20), now.Add(20*time.Minute))
	e.wantPeek("ok", rec("v", 20), now.Add(time.Minute))

	if h.MaxValueSize <= 0 {
		return
	}
	big := backends.Record{Data: make([]byte, h.MaxValueSize+1), Timeout: 20}
	batch = []backends.Install{
		{Key: "big", Record: big, Expires: now.Add(time.Minute), Replace: true},
		{Key: "small", Record: rec("small", 20), Expires: now.Add(time.Minute)},
	}
	e.installBatch(batch)
	if !errors.Is(batch[0].Err, backends.ErrTooLarge) || batch[0].Stored {
		t.Fatalf("InstallBatch of a record over the limit: stored %v, %v; want false, ErrTooLarge", batch[0].Stored, batch[0].Err)
	}
	if batch[1].Err != nil || !batch[1].Stored {
		t.Fatalf("InstallBatch of a small record next to a large one: stored %v, %v; want true, nil", batch[1].Stored, batch[1].Err)
	}
	e.mustNotPeek("big")
	e.wantPeek("small", rec("small", 20), now.Add(time.Minute))
}

func testRemoveBatch(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("expired", rec("expiring", 1))
	e.clock.Advance(time.Minute + margin)
	e.put("a", rec("a", 20))
	e.put("b", rec("b", 20))
	e.install("installed", rec("i", 20), e.clock.Now().Add(time.Hour), false)
	if err := e.batchMover().RemoveBatch(e.ctx, []string{"a", "expired", "absent", "installed", "a"}); err != nil {
		t.Fatalf("RemoveBatch: %v", err)
	}
	for _, k := range []string{"a", "expired", "absent", "installed"} {
		e.mustNotPeek(k)
		e.mustNotFind(k)
	}
	e.wantRecord("b", rec("b", 20))
	if got := e.walk(); len(got) != 1 || got["b"] == nil {
		t.Fatalf("Walk after RemoveBatch saw %v, want [b]", keysOf(got))
	}
	if err := e.batchMover().RemoveBatch(e.ctx, nil); err != nil {
		t.Fatalf("RemoveBatch of nothing: %v", err)
	}
	// A removed key takes a new record as usual.
	e.put("a", rec("again", 20))
	e.wantRecord("a", rec("again", 20))
}

// testBatchConcurrentWithApply runs batches over the same keys, in different
// orders, while Apply increments counters on them: no update is lost (an
// install without replace never overwrites a live record, a removal takes
// only keys nobody increments), nothing deadlocks. Run it with -race.
func testBatchConcurrentWithApply(t *testing.T, h Harness) {
	e := newEnv(t, h)
	const (
		keys    = 64
		workers = 4
		rounds  = 25
	)
	key := func(i int) string { return fmt.Sprintf("counter/%d", i) }
	for i := range keys {
		e.put(key(i), rec("0", 20))
	}
	bm := e.batchMover()
	exp := e.clock.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errc := make(chan error, 4*workers)
	for w := range workers {
		// Increments: each worker adds rounds to every key.
		wg.Go(func() {
			for range rounds {
				for i := range keys {
					err := e.b.Apply(e.ctx, key((i+w*7)%keys), func(cur *backends.Record) backends.Change {
						n := 0
						if cur != nil {
							n, _ = strconv.Atoi(string(cur.Data))
						}
						return backends.Change{Action: backends.Store, Record: rec(strconv.Itoa(n+1), 20)}
					})
					if err != nil {
						errc <- err
						return
					}
				}
			}
		})
		// Batches over the same keys, shuffled, without replace: never stored.
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				batch := make([]backends.Install, keys)
				for j, i := range r.Perm(keys) {
					batch[j] = backends.Install{Key: key(i), Record: rec("-1000000", 20), Expires: exp}
				}
				if err := bm.InstallBatch(e.ctx, batch); err != nil {
					errc <- err
					return
				}
				for _, in := range batch {
					if in.Stored || in.Err != nil {
						errc <- fmt.Errorf("InstallBatch over a live %q: stored %v, %v", in.Key, in.Stored, in.Err)
						return
					}
				}
			}
		})
		// Batches that install and remove keys of their own, interleaved
		// with the counters' keys in the same lock stripes.
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for n := range rounds {
				batch := make([]backends.Install, keys)
				own := make([]string, keys)
				for j, i := range r.Perm(keys) {
					own[j] = fmt.Sprintf("own/%d/%d", w, i)
					batch[j] = backends.Install{Key: own[j], Record: rec(strconv.Itoa(n), 20), Expires: exp, Replace: n%2 == 0}
				}
				if err := bm.InstallBatch(e.ctx, batch); err != nil {
					errc <- err
					return
				}
				if err := bm.RemoveBatch(e.ctx, own); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("batches and Apply did not finish in 2 minutes: deadlock?")
	}
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	want := strconv.Itoa(workers * rounds)
	for i := range keys {
		e.wantRecord(key(i), rec(want, 20))
	}
	if got := e.walk(); len(got) != keys {
		t.Fatalf("Walk saw %d records, want the %d counters (own keys removed)", len(got), keys)
	}
}

func testBatchUseAfterClose(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("v", 20))
	bm := e.batchMover()
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	batch := []backends.Install{{Key: "k2", Record: rec("v", 20), Expires: e.clock.Now().Add(time.Minute), Replace: true}}
	if err := bm.InstallBatch(e.ctx, batch); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("InstallBatch after Close = %v, want ErrClosed", err)
	}
	if err := bm.RemoveBatch(e.ctx, []string{"k"}); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("RemoveBatch after Close = %v, want ErrClosed", err)
	}
}

func testBatchReopenPersists(t *testing.T, h Harness) {
	e := newEnv(t, h)
	full := fullRecord(e.clock.Now())
	fullDL := e.clock.Now().Add(7*time.Minute + 5*time.Millisecond)
	plain := rec("after", 20)
	plainDL := e.clock.Now().Add(3 * time.Minute)
	e.put("replaced", rec("before", 20))
	e.put("removed", rec("gone", 20))
	batch := []backends.Install{
		{Key: "full", Record: full, Expires: fullDL},
		{Key: "replaced", Record: plain, Expires: plainDL, Replace: true},
		{Key: "removed later", Record: plain, Expires: plainDL},
	}
	e.installBatch(batch)
	wantStored(t, batch, true, true, true)
	if err := e.batchMover().RemoveBatch(e.ctx, []string{"removed", "removed later"}); err != nil {
		t.Fatalf("RemoveBatch: %v", err)
	}
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.clock.Advance(time.Minute)
	e.b = e.open()
	e.wantPeek("full", full, fullDL)
	e.wantPeek("replaced", plain, plainDL)
	e.mustNotPeek("removed")
	e.mustNotPeek("removed later")
	if got := e.walk(); len(got) != 2 {
		t.Fatalf("Walk after reopen saw %v, want full and replaced", keysOf(got))
	}
}
