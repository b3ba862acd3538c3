package badgerstore

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aspstate/aspstate/backends"
)

// Benchmarks use the production defaults (only Path and Sync set). They
// measure; nothing is asserted. The 1,000,000-session restart and RSS figures
// come from internal/loadtest, run by hand.

func benchStore(b *testing.B, sync string) *Store {
	s, err := Open(Config{Path: b.TempDir(), Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchKey(i int) string { return fmt.Sprintf("/W3SVC/1/ROOT/app/%080d", i) }

func BenchmarkApplyGet(b *testing.B) {
	s := benchStore(b, SyncNone)
	const n = 10000
	data := make([]byte, 1024)
	for i := range n {
		if err := backends.Put(ctx, s, benchKey(i), backends.Record{Data: data, Timeout: 20, LockCookie: 1}); err != nil {
			b.Fatal(err)
		}
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 2048)
		for pb.Next() {
			k := keys[next.Add(1)%n]
			err := s.Apply(ctx, k, func(cur *backends.Record) backends.Change {
				if cur != nil {
					buf = append(buf[:0], cur.Data...)
				}
				return backends.Change{Action: backends.Keep}
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchStoreWrites(b *testing.B, sync string) {
	s := benchStore(b, sync)
	data := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := benchKey(int(next.Add(1) % 100000))
			if err := backends.Put(ctx, s, k, backends.Record{Data: data, Timeout: 20, LockCookie: 1}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyStoreSyncAlways: with -cpu or SetParallelism the parallel
// writers share fsyncs (group commit).
func BenchmarkApplyStoreSyncAlways(b *testing.B) {
	b.SetParallelism(16)
	benchStoreWrites(b, SyncAlways)
}

func BenchmarkApplyStoreSyncNone(b *testing.B) {
	b.SetParallelism(16)
	benchStoreWrites(b, SyncNone)
}
