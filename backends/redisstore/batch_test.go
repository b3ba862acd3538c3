package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// TestBatchedApplies: many concurrent Applies, on distinct keys and on shared
// ones, travel in shared pipelines and every one gets its own, right answer.
func TestBatchedApplies(t *testing.T) {
	for _, pipelines := range []int{1, 3} {
		t.Run("pipelines="+strconv.Itoa(pipelines), func(t *testing.T) {
			testBatchedApplies(t, pipelines)
		})
	}
}

func testBatchedApplies(t *testing.T, pipelines int) {
	srv := redistest.Start(t)
	s := open(t, srv, func(c *Config) { c.Pipelines = pipelines })
	const workers, rounds, shared = 64, 30, 16
	before := roundTrips(t, srv.Client())
	var wg sync.WaitGroup
	var done [shared]atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := "own" + strconv.Itoa(w)
			for i := range rounds {
				if err := s.Apply(bg(t), own, increment); err != nil {
					t.Errorf("Apply(%s): %v", own, err)
					return
				}
				// Several workers share a key: CAS conflicts, retried, and
				// rarely given up on (ErrConflict), as across gateways.
				switch err := s.Apply(bg(t), "shared"+strconv.Itoa(w%shared), increment); {
				case err == nil:
					done[w%shared].Add(1)
				case !errors.Is(err, ErrConflict):
					t.Errorf("Apply(shared): %v", err)
					return
				}
				// A read sees this worker's own count, not another's.
				rec, ok := get(t, s, own)
				if n := binary.BigEndian.Uint64(rec.Data); !ok || n != uint64(i+1) {
					t.Errorf("%s = %d, %v after %d increments", own, n, ok, i+1)
					return
				}
			}
		}()
	}
	wg.Wait()
	trips := roundTrips(t, srv.Client()) - before - 1
	for k := range shared {
		rec, ok := get(t, s, "shared"+strconv.Itoa(k))
		if n := binary.BigEndian.Uint64(rec.Data); !ok || int64(n) != done[k].Load() {
			t.Errorf("shared%d = %d, but %d increments were acknowledged", k, n, done[k].Load())
		}
		if done[k].Load() < workers/shared*rounds*9/10 {
			t.Errorf("shared%d: only %d of %d increments succeeded", k, done[k].Load(), workers/shared*rounds)
		}
	}
	// Unbatched, each round of a worker takes at least three round trips
	// (its own write, the shared one, the read).
	if unbatched := int64(workers * rounds * 3); trips > unbatched/2 {
		t.Errorf("%d round trips for at least %d calls: calls were not batched", trips, unbatched)
	}
	t.Logf("%d round trips for at least %d calls", trips, workers*rounds*3)
}

// TestBatchOneBadCommand: a command that Redis refuses (the key holds a
// string, not a hash) fails its own caller with that error; the calls that
// share its pipeline still succeed.
func TestBatchOneBadCommand(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	if err := srv.Client().Set(bg(t), s.cfg.KeyPrefix+"s:bad", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		put(t, s, "good"+strconv.Itoa(i), backends.Record{Data: []byte("g" + strconv.Itoa(i)), Timeout: 20})
	}
	for range 20 {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := backends.Get(bg(t), s, "bad")
				if err == nil || errors.Is(err, backends.ErrNotFound) {
					t.Errorf("Get of a corrupt key = %v, want an error", err)
				}
			}()
			go func() {
				defer wg.Done()
				rec, ok := get(t, s, "good"+strconv.Itoa(i))
				if !ok || string(rec.Data) != "g"+strconv.Itoa(i) {
					t.Errorf("good%d = %q, %v", i, rec.Data, ok)
				}
			}()
		}
		wg.Wait()
	}
}

// TestBatchCallerDeadline: callers waiting in the same pipeline each stop at
// their own deadline; a short one does not cut a long one short, and a long
// one does not hold a short one.
func TestBatchCallerDeadline(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	put(t, open(t, srv, nil), "k", backends.Record{Data: []byte("x"), Timeout: 20})
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	type result struct {
		err  error
		took time.Duration
	}
	run := func(ctx context.Context, out chan<- result) {
		start := time.Now()
		_, err := backends.Get(ctx, s, "k")
		out <- result{err, time.Since(start)}
	}
	short, long, canceled := make(chan result, 1), make(chan result, 1), make(chan result, 1)
	sctx, scancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer scancel()
	lctx, lcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer lcancel()
	cctx, ccancel := context.WithCancel(context.Background())
	go run(lctx, long)
	go run(sctx, short)
	go run(cctx, canceled)
	time.Sleep(50 * time.Millisecond)
	ccancel()
	if r := <-canceled; !errors.Is(r.err, context.Canceled) || r.took > time.Second {
		t.Errorf("canceled caller: %v after %v", r.err, r.took)
	}
	if r := <-short; r.err == nil || errors.Is(r.err, backends.ErrNotFound) || r.took > time.Second {
		t.Errorf("short deadline: %v after %v, want an error near 150ms", r.err, r.took)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Resume()
	resumed = true
	if r := <-long; r.err != nil {
		t.Errorf("long deadline: %v after %v, want the record (Redis came back within it)", r.err, r.took)
	}
	// Nothing is left queued or stuck: the store still answers.
	if _, ok := get(t, s, "k"); !ok {
		t.Fatal("record not found")
	}
}

// TestBatchNoScript: scripts flushed from Redis (as by a restart) are loaded
// again by the batcher, also when many calls hit NOSCRIPT together.
func TestBatchNoScript(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	for i := range 30 {
		put(t, s, "k"+strconv.Itoa(i), backends.Record{Data: make([]byte, 8), Timeout: 20})
	}
	for range 3 {
		if err := srv.Client().ScriptFlush(bg(t)).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := backends.Get(bg(t), s, "k"+strconv.Itoa(i)); err != nil {
					t.Errorf("Get after SCRIPT FLUSH: %v", err)
				}
				if err := s.Apply(bg(t), "k"+strconv.Itoa(i), increment); err != nil {
					t.Errorf("Apply after SCRIPT FLUSH: %v", err)
				}
			}()
		}
		wg.Wait()
	}
}

// TestWriteCacheStale: the record this gateway wrote last is changed by
// another gateway, or expires; the next change here must see the current
// record (or none), never the one it remembers.
func TestWriteCacheStale(t *testing.T) {
	srv := redistest.Start(t)
	clock := backendtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	shared := func(c *Config) { c.KeyPrefix = "shared:"; c.Now = clock.Now }
	a, b := open(t, srv, shared), open(t, srv, shared)
	appendX := func(seen *[]string) backends.Transition {
		return func(cur *backends.Record) backends.Change {
			if cur == nil {
				*seen = append(*seen, "<nil>")
				return backends.Change{Action: backends.Store, Record: backends.Record{Data: []byte("new"), Timeout: 1}}
			}
			*seen = append(*seen, string(cur.Data))
			return backends.Change{Action: backends.Store, Record: backends.Record{Data: append([]byte(nil), append(cur.Data, 'x')...), Timeout: 1}}
		}
	}
	put(t, a, "k", backends.Record{Data: []byte("a1"), Timeout: 1}) // a remembers a1
	put(t, b, "k", backends.Record{Data: []byte("b1"), Timeout: 1})
	var seen []string
	if err := a.Apply(bg(t), "k", appendX(&seen)); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, b, "k"); string(got.Data) != "b1x" {
		t.Fatalf("stored %q after a change based on a stale cache (transition saw %q), want b1x", got.Data, seen)
	}
	// a remembers b1x now; another gateway's read slides it, which changes
	// nothing the cache relies on.
	clock.Advance(50 * time.Second)
	get(t, b, "k")
	clock.Advance(50 * time.Second) // past a's deadline, not b's slid one
	seen = nil
	if err := a.Apply(bg(t), "k", appendX(&seen)); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, b, "k"); string(got.Data) != "b1xx" {
		t.Fatalf("stored %q (transition saw %q), want b1xx", got.Data, seen)
	}
	// Expired while remembered: the change sees no record.
	clock.Advance(61 * time.Second)
	seen = nil
	if err := a.Apply(bg(t), "k", appendX(&seen)); err != nil {
		t.Fatal(err)
	}
	if last := seen[len(seen)-1]; last != "<nil>" {
		t.Fatalf("transition saw %q on an expired record (calls: %q)", last, seen)
	}
	if got, _ := get(t, b, "k"); string(got.Data) != "new" {
		t.Fatalf("stored %q, want new", got.Data)
	}
	// Deleted by another gateway while remembered.
	if err := backends.Remove(bg(t), b, "k"); err != nil {
		t.Fatal(err)
	}
	seen = nil
	if err := a.Apply(bg(t), "k", appendX(&seen)); err != nil {
		t.Fatal(err)
	}
	if last := seen[len(seen)-1]; last != "<nil>" {
		t.Fatalf("transition saw %q on a deleted record", last)
	}
}

// TestOpTimeoutBoundsApply: without a deadline of the caller's, a stalled
// Redis fails Apply after OpTimeout, also for calls queued behind a pipeline
// that is already waiting.
func TestOpTimeoutBoundsApply(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, func(c *Config) { c.OpTimeout = 300 * time.Millisecond })
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	srv.Pause()
	defer srv.Resume()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 20 * time.Millisecond) // some queue behind others
			start := time.Now()
			_, err := backends.Get(context.Background(), s, "k")
			if took := time.Since(start); err == nil || errors.Is(err, backends.ErrNotFound) || took > time.Second {
				t.Errorf("Get with Redis paused = %v after %v, want a failure near 300ms", err, took)
			}
		}()
	}
	wg.Wait()
}
