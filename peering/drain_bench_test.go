package peering_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// BenchmarkDrainBolt drains a gateway of a three-member bbolt farm holding
// about 10,000 records of 1 KiB and reports records/s.
func BenchmarkDrainBolt(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		c := peeringtest.New(b, 3, peeringtest.Options{Store: boltStores(b.TempDir()), DrainTimeout: time.Minute})
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
		start := time.Now()
		if left, err := c.Members[1].Node.Leave(context.Background()); err != nil || left != 0 {
			b.Fatalf("left %d: %v", left, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}
