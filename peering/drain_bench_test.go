package peering_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// BenchmarkDrainBolt drains a gateway of a three-member bbolt farm (sync
// "always") holding about 10,000 records of 1 KiB and reports records/s.
func BenchmarkDrainBolt(b *testing.B) {
	benchDrain(b, boltStores)
}

// BenchmarkDrainBadger is BenchmarkDrainBolt on badger with its default sync
// policy ("interval"), as the gateway and scripts/peerbench.sh run it.
func BenchmarkDrainBadger(b *testing.B) {
	benchDrain(b, badgerStores)
}

// badgerStores opens each member's badger store in dir; fresh gives it a new
// directory.
func badgerStores(dir string) func(t testing.TB, id string, fresh bool) backends.Backend {
	var mu sync.Mutex
	gen := map[string]int{}
	return func(t testing.TB, id string, fresh bool) backends.Backend {
		mu.Lock()
		if fresh {
			gen[id]++
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d", id, gen[id]))
		mu.Unlock()
		st, err := badgerstore.Open(badgerstore.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

func benchDrain(b *testing.B, stores func(dir string) func(t testing.TB, id string, fresh bool) backends.Backend) {
	for b.Loop() {
		b.StopTimer()
		c := peeringtest.New(b, 3, peeringtest.Options{Store: stores(b.TempDir()), DrainTimeout: time.Minute})
		m := c.Members[1].Store.(backends.Mover)
		exp := time.Now().Add(time.Hour)
		var keys []string
		for i := 0; len(keys) < 10000; i++ {
			if key := fmt.Sprintf("/LM/W3SVC/1/ROOT(drain%d)", i); c.Owner(0, key) == 1 {
				keys = append(keys, key)
			}
		}
		n := len(keys)
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := g; i < n; i += 32 {
					if _, err := m.Install(context.Background(), keys[i], backends.Record{Data: make([]byte, 1024), Timeout: 60}, exp, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StartTimer()
		syncs := func() (n uint64) {
			for _, m := range c.Members {
				if d, ok := m.Store.(backends.DurabilityReporter); ok {
					n += d.DurabilityStats().Syncs
				}
			}
			return n
		}
		syncs0 := syncs()
		start, cpu0 := time.Now(), cpuTime()
		if left, err := c.Members[1].Node.Leave(context.Background()); err != nil || left != 0 {
			b.Fatalf("left %d: %v", left, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		// The whole farm's CPU time (user + system) per record moved: on a
		// shared machine this varies less than records/s.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/record")
		// bbolt's log fdatasyncs in the farm (badger "interval": its sync
		// rounds, which do not follow the writes).
		b.ReportMetric(float64(syncs()-syncs0), "syncs")
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}
