package backendtest

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Sizes are modest: durable stores fsync every write and Redis pays a round
// trip per transition (more under conflict), and the suite must stay fast.
const (
	concGoroutines = 8
	concOps        = 25
)

func testConcurrentApplyOnOneKey(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("counter", backends.Record{Data: make([]byte, 8), Timeout: 20, LockCookie: 1})
	var wg sync.WaitGroup
	errs := make(chan error, concGoroutines)
	for range concGoroutines {
		wg.Go(func() {
			for range concOps {
				err := e.b.Apply(e.ctx, "counter", func(cur *backends.Record) backends.Change {
					if cur == nil || len(cur.Data) != 8 {
						return backends.Change{Action: backends.Keep} // reported below as a lost count
					}
					next := *cur
					next.Data = binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(cur.Data)+1)
					next.LockCookie = cur.LockCookie + 1
					return backends.Change{Action: backends.Store, Record: next}
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Apply: %v", err)
	}
	got := e.get("counter")
	n := uint64(0)
	if len(got.Data) == 8 {
		n = binary.BigEndian.Uint64(got.Data)
	}
	if want := uint64(concGoroutines * concOps); n != want || got.LockCookie != int32(want)+1 {
		t.Fatalf("after %d increments: counter %d, cookie %d (data %x): transitions interleaved or were lost",
			want, n, got.LockCookie, got.Data)
	}
}

func testConcurrentApplyOnManyKeys(t *testing.T, h Harness) {
	e := newEnv(t, h)
	var wg sync.WaitGroup
	for g := range concGoroutines {
		wg.Go(func() {
			for i := range concOps {
				key := fmt.Sprintf("g%d/k%d", g, i%5)
				want := backends.Record{Data: fmt.Appendf(nil, "%d-%d", g, i), Timeout: int32(1 + i), LockCookie: int32(i)}
				if err := backends.Put(e.ctx, e.b, key, want); err != nil {
					t.Errorf("Put(%q): %v", key, err)
					return
				}
				got, err := backends.Get(e.ctx, e.b, key)
				if err != nil {
					t.Errorf("Get(%q): %v", key, err)
					return
				}
				if d := diffRecord(got, want); d != "" {
					t.Errorf("Get(%q) right after Put, with other keys busy:%s", key, d)
					return
				}
				if i%7 == 6 {
					if err := backends.Remove(e.ctx, e.b, key); err != nil {
						t.Errorf("Remove(%q): %v", key, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// consistent returns the record writers store for version i: every field is
// a function of i, so a reader can tell a torn or mixed record.
func consistent(i int32, base time.Time) backends.Record {
	data := make([]byte, 4+int(i%5)*300)
	binary.BigEndian.PutUint32(data, uint32(i))
	for j := 4; j < len(data); j++ {
		data[j] = byte(i)
	}
	return backends.Record{
		Data:          data,
		Timeout:       1 + i%1000,
		Uninitialized: i%3 == 0,
		Locked:        i%2 == 1,
		LockCookie:    i,
		LockDate:      base.Add(time.Duration(i) * time.Nanosecond),
	}
}

func testTransitionSeesConsistentRecord(t *testing.T, h Harness) {
	e := newEnv(t, h)
	base := e.clock.Now().Add(-time.Hour)
	e.put("k", consistent(0, base))
	check := func(cur *backends.Record) {
		if cur == nil {
			t.Error("transition saw nil for a key that always exists")
			return
		}
		if len(cur.Data) < 4 {
			t.Errorf("transition saw a record with %d bytes of data", len(cur.Data))
			return
		}
		i := int32(binary.BigEndian.Uint32(cur.Data))
		if d := diffRecord(*cur, consistent(i, base)); d != "" || cur.LockCookie != i {
			t.Errorf("transition saw a mixed record for version %d:%s", i, d)
		}
	}
	var wg sync.WaitGroup
	const writers, readers = 3, 3
	for w := range writers {
		wg.Go(func() {
			for j := range concOps {
				i := int32(1 + w*concOps + j)
				err := e.b.Apply(e.ctx, "k", func(cur *backends.Record) backends.Change {
					check(cur)
					return backends.Change{Action: backends.Store, Record: consistent(i, base)}
				})
				if err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range concOps {
				if err := e.b.Apply(e.ctx, "k", func(cur *backends.Record) backends.Change {
					check(cur)
					return backends.Change{Action: backends.Keep}
				}); err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.apply("k", func(cur *backends.Record) backends.Change {
		check(cur)
		return backends.Change{Action: backends.Keep}
	})
}
