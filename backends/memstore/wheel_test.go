package memstore

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/aspstate/aspstate/backends"
)

// testClock is a settable clock; backendtest.Clock cannot be used here
// (backendtest imports memstore).
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestEntryStaysSmall(t *testing.T) {
	// 96 is a size class; one byte more costs 16 bytes per session.
	if n := unsafe.Sizeof(entry{}); n > 96 {
		t.Fatalf("entry is %d bytes, want <= 96", n)
	}
}

// entries yields every entry in the shard's maps. sh.mu must be held.
func (sh *shard) entries() iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		for _, e := range sh.m {
			if !yield(e) {
				return
			}
		}
		for _, e := range sh.collided {
			if !yield(e) {
				return
			}
		}
	}
}

// checkInvariants verifies the map, the wheel and the counters agree:
// every entry in the map is linked exactly once, in the slot of its due
// second, filed no later than its deadline's second (or the sweeper's
// position), and the counters match.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	s.sweepMu.Lock() // the background sweeper may be between batches
	defer s.sweepMu.Unlock()
	var count, bytes int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		linked := 0
		for slot, head := range sh.wheel {
			var prev *entry
			for e := head; e != nil; e = e.next {
				linked++
				if e.prev != prev {
					t.Errorf("shard %d slot %d: broken prev link at %q", i, slot, e.key)
				}
				if slotOf(e.due) != slot {
					t.Errorf("shard %d: %q due %d filed in slot %d", i, e.key, e.due, slot)
				}
				if sh.find(s.hash(e.key), e.key) != e {
					t.Errorf("shard %d: %q linked but not found", i, e.key)
				}
				if int(s.hash(e.key)%numShards) != i {
					t.Errorf("shard %d: %q belongs in shard %d", i, e.key, s.hash(e.key)%numShards)
				}
				if e.due < sh.next {
					t.Errorf("shard %d: %q due %d before the sweeper's position %d", i, e.key, e.due, sh.next)
				}
				if e.due > max(floorSec(e.deadline), sh.next) {
					t.Errorf("shard %d: %q due %d after its deadline's second %d: it would be swept late",
						i, e.key, e.due, floorSec(e.deadline))
				}
				prev = e
			}
		}
		if n := len(sh.m) + len(sh.collided); linked != n {
			t.Errorf("shard %d: %d linked entries, %d in the maps", i, linked, n)
		}
		for h, e := range sh.m {
			if s.hash(e.key) != h {
				t.Errorf("shard %d: %q filed under hash %x, its hash is %x", i, e.key, h, s.hash(e.key))
			}
		}
		for k, e := range sh.collided {
			if sh.m[s.hash(k)] == nil || sh.m[s.hash(k)] == e || e.key != k {
				t.Errorf("shard %d: %q among the collided, but its hash is free or it is filed twice", i, k)
			}
		}
		for e := range sh.entries() {
			count++
			bytes += int64(len(e.key) + len(e.data))
		}
		if sh.cursor != nil {
			t.Errorf("shard %d: cursor left set outside a sweep", i)
		}
		sh.mu.Unlock()
	}
	if got := int64(s.Len()); got != count {
		t.Errorf("Len() = %d, map holds %d", got, count)
	}
	if got := s.Bytes(); got != bytes {
		t.Errorf("Bytes() = %d, map holds %d", got, bytes)
	}
}

// TestWheelInvariantsUnderRandomOperations drives the store and the sweep
// with random stores, reads, deletes and clock jumps, and checks that the
// wheel stays consistent and that a sweep leaves nothing expired behind.
func TestWheelInvariantsUnderRandomOperations(t *testing.T) {
	t.Run("hash=full", func(t *testing.T) { testWheelInvariants(t, math.MaxUint64) })
	// 0x3ff leaves four hash values per shard, so most of the 300 keys
	// collide with another: the collided map gets the same workout.
	t.Run("hash=colliding", func(t *testing.T) { testWheelInvariants(t, 0x3ff) })
}

func testWheelInvariants(t *testing.T, hashMask uint64) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	clk := &testClock{t: time.Unix(1_700_000_000, 0)}
	s, err := New(Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.hashMask = hashMask
	ctx := context.Background()
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	for step := range 8000 {
		key := keys[rng.IntN(len(keys))]
		switch r := rng.IntN(100); {
		case r < 40:
			timeout := int32(1 + rng.IntN(40))
			if rng.IntN(20) == 0 {
				timeout = int32(rng.IntN(600000)) // up to a year and more, and 0
			}
			data := make([]byte, rng.IntN(50))
			err = backends.Put(ctx, s, key, backends.Record{Data: data, Timeout: timeout})
		case r < 75:
			_, err = backends.Get(ctx, s, key)
			if err == backends.ErrNotFound {
				err = nil
			}
		case r < 85:
			err = s.Apply(ctx, key, func(*backends.Record) backends.Change { return backends.Change{Action: backends.Delete} })
		case r < 97:
			clk.Advance(time.Duration(rng.Int64N(int64(90 * time.Second))))
		case r < 99:
			clk.Advance(time.Duration(rng.Int64N(int64(3 * time.Hour))))
		default:
			now := clk.Now().UnixNano()
			s.sweep()
			checkInvariants(t, s)
			for i := range s.shards {
				sh := &s.shards[i]
				sh.mu.Lock()
				for e := range sh.entries() {
					if now > e.deadline {
						t.Errorf("step %d: %q expired %v ago, still there after a sweep", step, e.key, time.Duration(now-e.deadline))
					}
				}
				sh.mu.Unlock()
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	checkInvariants(t, s)
}

// TestSweepLeavesLiveRecordsAlone: records slid by reads survive sweeps
// whatever slot they were first filed in; the others go on schedule.
func TestSweepLeavesLiveRecordsAlone(t *testing.T) {
	clk := &testClock{t: time.Unix(1_700_000_000, 0)}
	s, err := New(Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 2000 {
		if err := backends.Put(ctx, s, fmt.Sprint(i), backends.Record{Timeout: int32(1 + i%30)}); err != nil {
			t.Fatal(err)
		}
	}
	// Sweep every 10 s of test time for 31 minutes, reading the even keys at
	// each step: they slide and must survive; odd keys expire on schedule.
	for step := range 31 * 6 {
		clk.Advance(10 * time.Second)
		for i := 0; i < 2000; i += 2 {
			if _, err := backends.Get(ctx, s, fmt.Sprint(i)); err != nil {
				t.Fatalf("key %d, read every 10 s: %v", i, err)
			}
		}
		s.sweep()
		if step%10 == 0 {
			checkInvariants(t, s)
		}
	}
	checkInvariants(t, s)
	if s.Len() != 1000 {
		t.Fatalf("Len() = %d after every unread record expired, want the 1000 read ones", s.Len())
	}
}
