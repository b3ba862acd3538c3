package boltstore

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

func openBench(b *testing.B, sync string) *Store {
	b.Helper()
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "bench.db"), Sync: sync, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// benchKey is about the size of a real key (~100 bytes).
func benchKey(i int) string {
	return fmt.Sprintf("/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/%024d", i)
}

var value1K = bytes.Repeat([]byte("s"), 1024)

// BenchmarkApplyGet is a plain read: index lookup and slide, a bbolt read
// transaction, the transition copying the blob. No disk write.
func BenchmarkApplyGet(b *testing.B) {
	s := openBench(b, SyncNone)
	const keys = 1000
	for i := range keys {
		if err := backends.Put(ctx, s, benchKey(i), backends.Record{Data: value1K, Timeout: 20}); err != nil {
			b.Fatal(err)
		}
	}
	read := func(key string) {
		if _, err := backends.Get(ctx, s, key); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			read(benchKey(i % keys))
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				read(benchKey(int(n.Add(1)) % keys))
			}
		})
	})
}

func benchStore(b *testing.B, sync string) {
	s := openBench(b, sync)
	put := func(i int) {
		if err := backends.Put(ctx, s, benchKey(i), backends.Record{Data: value1K, Timeout: 20}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			put(i % 100_000)
			i++
		}
	})
	// 64 concurrent writers, as many web servers' requests would be: with
	// group commit they share transactions and fsyncs.
	b.Run("parallel64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32) // × GOMAXPROCS (2 here) = 64 goroutines
		var n atomic.Int64
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				put(int(n.Add(1)) % 100_000)
			}
		})
		b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "writes/s")
	})
}

// BenchmarkApplyStoreSyncAlways: each Apply returns after fsync.
func BenchmarkApplyStoreSyncAlways(b *testing.B) { benchStore(b, SyncAlways) }

// BenchmarkApplyStoreSyncNone: each Apply returns after the commit's writes
// reach the page cache.
func BenchmarkApplyStoreSyncNone(b *testing.B) { benchStore(b, SyncNone) }
