package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// benchKeys gives each parallel goroutine its own key, as web requests for
// different sessions would, so the numbers measure round trips, not conflicts.
func benchKeys(b *testing.B, s *Store, n int, data []byte) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/session" + strconv.Itoa(i)
		put(b, s, keys[i], backends.Record{Data: data, Timeout: 20, LockCookie: 1})
	}
	return keys
}

// BenchmarkApplyGet: a read that finds the session (one round trip: read
// and slide).
func BenchmarkApplyGet(b *testing.B) {
	srv := redistest.Start(b)
	s := open(b, srv, nil)
	keys := benchKeys(b, s, 256, make([]byte, 1024))
	var next atomic.Int64
	b.SetBytes(1024)
	b.SetParallelism(4) // several requests in flight per core, as in a web farm
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := keys[next.Add(1)%int64(len(keys))]
		ctx := context.Background()
		for pb.Next() {
			if err := s.Apply(ctx, key, func(*backends.Record) backends.Change { return backends.Change{} }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyCycle: one web request's session traffic, GetExclusive
// (read, lock, CAS) then Set-and-release (read, CAS): four round trips.
func BenchmarkApplyCycle(b *testing.B) {
	srv := redistest.Start(b)
	s := open(b, srv, nil)
	data := make([]byte, 1024)
	keys := benchKeys(b, s, 256, data)
	var next atomic.Int64
	b.SetBytes(2 * 1024)
	b.SetParallelism(4) // several requests in flight per core, as in a web farm
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := keys[next.Add(1)%int64(len(keys))]
		ctx := context.Background()
		acquire := func(cur *backends.Record) backends.Change {
			r := *cur
			r.Locked, r.LockCookie, r.LockDate = true, r.LockCookie+1, time.Now().UTC()
			return backends.Change{Action: backends.Store, Record: r}
		}
		release := func(cur *backends.Record) backends.Change {
			r := *cur
			r.Locked, r.Data = false, data
			return backends.Change{Action: backends.Store, Record: r}
		}
		for pb.Next() {
			if err := s.Apply(ctx, key, acquire); err != nil {
				b.Error(err)
				return
			}
			if err := s.Apply(ctx, key, release); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
