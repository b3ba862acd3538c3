package redisstore

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// increment is a read-increment-write transition on an 8-byte counter.
func increment(cur *backends.Record) backends.Change {
	var n uint64
	if cur != nil {
		n = binary.BigEndian.Uint64(cur.Data)
	}
	data := binary.BigEndian.AppendUint64(nil, n+1)
	return backends.Change{Action: backends.Store, Record: backends.Record{Data: data, Timeout: 20}}
}

// TestTwoGatewaysNoLostUpdate: two Stores, as two gateways, increment one
// key concurrently. Every increment that Apply reports done is in the final
// value, and nothing else is: the CAS holds across clients.
func TestTwoGatewaysNoLostUpdate(t *testing.T) {
	srv := redistest.Start(t)
	prefix := func(c *Config) { c.KeyPrefix = "shared:" }
	gateways := []*Store{open(t, srv, prefix), open(t, srv, prefix)}
	const workers, perWorker = 6, 60
	var done, calls, conflicts atomic.Int64
	var wg sync.WaitGroup
	for _, s := range gateways {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					err := s.Apply(bg(t), "counter", func(cur *backends.Record) backends.Change {
						calls.Add(1)
						return increment(cur)
					})
					switch {
					case err == nil:
						done.Add(1)
					case errors.Is(err, ErrConflict):
						conflicts.Add(1)
					default:
						t.Errorf("Apply: %v", err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	rec, ok := get(t, gateways[0], "counter")
	if !ok {
		t.Fatal("counter missing")
	}
	if got := int64(binary.BigEndian.Uint64(rec.Data)); got != done.Load() {
		t.Fatalf("counter = %d, but %d increments were acknowledged (%d gave up): lost or phantom updates", got, done.Load(), conflicts.Load())
	}
	t.Logf("%d increments, %d transition calls, %d gave up after %d attempts", done.Load(), calls.Load(), conflicts.Load(), maxAttempts)
	if done.Load() < 2*workers*perWorker*9/10 {
		t.Errorf("only %d of %d increments succeeded: the retry loop gives up too easily", done.Load(), 2*workers*perWorker)
	}
}

// TestConflictReruns: a write by another gateway between the read and the
// CAS makes the first gateway run its transition again on the new record,
// even when the other gateway deleted and re-created the key (a version
// counter alone would be fooled by that, the write id is not).
func TestConflictReruns(t *testing.T) {
	srv := redistest.Start(t)
	prefix := func(c *Config) { c.KeyPrefix = "shared:" }
	a, b := open(t, srv, prefix), open(t, srv, prefix)
	put(t, a, "k", backends.Record{Data: []byte("v1"), Timeout: 20})
	var seen []string
	err := a.Apply(bg(t), "k", func(cur *backends.Record) backends.Change {
		seen = append(seen, string(cur.Data))
		if len(seen) == 1 {
			// Between a's read and a's CAS: b deletes the key and creates it
			// again, so its version counter starts over at 1 as before.
			if err := backends.Remove(bg(t), b, "k"); err != nil {
				t.Errorf("Remove: %v", err)
			}
			put(t, b, "k", backends.Record{Data: []byte("v2"), Timeout: 20})
		}
		return backends.Change{Action: backends.Store, Record: backends.Record{Data: append([]byte(nil), append(cur.Data, '+')...), Timeout: 20}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "v1" || seen[1] != "v2" {
		t.Fatalf("transition saw %q, want [v1 v2]", seen)
	}
	if got, _ := get(t, a, "k"); string(got.Data) != "v2+" {
		t.Fatalf("stored %q, want v2+ (the write based on v1 must not land)", got.Data)
	}
}

// TestCASResentIsIdempotent: go-redis resends a command whose reply was lost
// to a network error; the resent CAS must report success, not a conflict
// that would make Apply run the transition a second time.
func TestCASResentIsIdempotent(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	ctx := bg(t)
	keys := []string{s.cfg.KeyPrefix + "s:k"}
	wid := newWriteID()
	args := []any{"", wid, "s", "", encodeValue(&backends.Record{Data: []byte("x"), Timeout: 1}, wid, 1), ""}
	for i := range 2 {
		n, err := s.cas.Run(ctx, s.client, keys, args...).Int()
		if err != nil || n != 1 {
			t.Fatalf("CAS #%d = %d, %v; want applied", i+1, n, err)
		}
	}
	if st, err := decodeValue(srv.Client().Get(ctx, keys[0]).Val(), false); err != nil || st.version != 1 || st.wid != wid {
		t.Fatalf("stored write %+v (%v) after a resent CAS, want write id %s, count 1 (applied once)", st, err, wid)
	}
	// A different token with a stale expectation is a conflict.
	args[1] = newWriteID()
	if n, err := s.cas.Run(ctx, s.client, keys, args...).Int(); err != nil || n != 0 {
		t.Fatalf("stale CAS = %d, %v; want a conflict", n, err)
	}
}
