package badgerstore

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

var value1K = bytes.Repeat([]byte("s"), 1024)

// BenchmarkMoverInstall installs 10,000 records of 1 KiB per iteration from
// 32 goroutines (peering's hand-off concurrency), sync "always": concurrent
// Installs share the group committer's transactions and syncs.
func BenchmarkMoverInstall(b *testing.B) {
	const records, installers = 10_000, 32
	s := benchStore(b, SyncAlways)
	exp := time.Now().Add(10 * time.Minute)
	round := 0
	for b.Loop() {
		var wg sync.WaitGroup
		for g := range installers {
			wg.Go(func() {
				for i := g; i < records; i += installers {
					rec := backends.Record{Data: value1K, Timeout: 20, LockCookie: 1}
					if _, err := s.Install(ctx, benchKey(round*records+i), rec, exp, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		round++
	}
	b.ReportMetric(float64(round*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkMoverWalk walks 100,000 records of 1 KiB, most of them beyond the
// record cache (32 MiB by default), so read from badger.
func BenchmarkMoverWalk(b *testing.B) {
	const records = 100_000
	s := benchStore(b, SyncNone)
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := g; i < records; i += 32 {
				if _, err := s.Install(ctx, benchKey(i), backends.Record{Data: value1K, Timeout: 60}, exp, true); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := 0
	for b.Loop() {
		n = 0
		if err := s.Walk(ctx, func(string, *backends.Record, time.Time) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if n != records {
		b.Fatalf("Walk saw %d records, want %d", n, records)
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}
