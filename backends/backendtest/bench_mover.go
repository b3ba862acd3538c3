package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// The Mover benchmarks every durable driver runs, so that their figures are
// comparable: what peering's hand-off does to a store.

// moverInstallers is how many goroutines install at once: peering's hand-off
// installs up to 32 records concurrently, so durable stores share syncs.
const moverInstallers = 32

var moverValue = bytes.Repeat([]byte("s"), 1024)

func moverKey(i int) string { return fmt.Sprintf("/W3SVC/1/ROOT/app/mover%012d", i) }

// installMany installs records [from, from+n) of 1 KiB from moverInstallers
// goroutines.
func installMany(b *testing.B, m backends.Mover, from, n int, exp time.Time) {
	var wg sync.WaitGroup
	for g := range moverInstallers {
		wg.Go(func() {
			for i := g; i < n; i += moverInstallers {
				rec := backends.Record{Data: moverValue, Timeout: 60, LockCookie: 1}
				if _, err := m.Install(context.Background(), moverKey(from+i), rec, exp, true); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchMoverInstall installs 10,000 records of 1 KiB per iteration and
// reports records/s.
func BenchMoverInstall(b *testing.B, m backends.Mover) {
	const records = 10_000
	exp := time.Now().Add(10 * time.Minute)
	round := 0
	for b.Loop() {
		installMany(b, m, round*records, records, exp)
		round++
	}
	b.ReportMetric(float64(round*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchMoverWalk walks 100,000 records of 1 KiB and reports records/s;
// settle, if set, runs after the fill (a checkpoint, say).
func BenchMoverWalk(b *testing.B, m backends.Mover, settle func() error) {
	const records = 100_000
	installMany(b, m, 0, records, time.Now().Add(time.Hour))
	if settle != nil {
		if err := settle(); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		n = 0
		if err := m.Walk(context.Background(), func(string, *backends.Record, time.Time) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if n != records {
		b.Fatalf("Walk saw %d records, want %d", n, records)
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}

// BenchMoverWalkBesideWrites is BenchMoverWalk while moverInstallers
// goroutines keep rewriting 10,000 other records, as a listing or a
// hand-off walks a store that serves traffic; it reports walked records/s.
func BenchMoverWalkBesideWrites(b *testing.B, m backends.Mover) {
	const records, busy = 100_000, 10_000
	installMany(b, m, 0, records, time.Now().Add(time.Hour))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range moverInstallers {
		wg.Go(func() {
			rec := backends.Record{Data: moverValue, Timeout: 60}
			for i := g; ; i += moverInstallers {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.Install(context.Background(), moverKey(records+i%busy), rec, time.Now().Add(time.Hour), true); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer close(stop)
	walked := 0
	for b.Loop() {
		if err := m.Walk(context.Background(), func(string, *backends.Record, time.Time) error { walked++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if walked < b.N*records {
		b.Fatalf("Walk saw %d records in %d walks, want at least %d each", walked, b.N, records)
	}
	b.ReportMetric(float64(walked)/b.Elapsed().Seconds(), "records/s")
}
