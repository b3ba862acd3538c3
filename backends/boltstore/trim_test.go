package boltstore

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// TestDropMappedKeepsData drops the memory map's pages while readers hold
// records from it and while the file grows (remaps): every read still sees
// the right bytes.
func TestDropMappedKeepsData(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.cfg.Sync = SyncNone
	s := e.open(e.path)
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 3000) }
	for i := range 200 {
		if err := backends.Put(ctx, s, fmt.Sprint("k", i), backends.Record{Data: val(i), Timeout: 20}); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(t, s)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 2 {
		wg.Go(func() {
			for i := r; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % 200
				got, err := backends.Get(ctx, s, fmt.Sprint("k", k))
				if err != nil || !bytes.Equal(got.Data, val(k)) {
					t.Errorf("k%d: %d bytes, %v", k, len(got.Data), err)
					return
				}
			}
		})
	}
	wg.Go(func() { // grow the file: checkpoints remap it
		for i := 200; i < 1200; i++ {
			if err := backends.Put(ctx, s, fmt.Sprint("g", i), backends.Record{Data: val(i), Timeout: 20}); err != nil {
				t.Error(err)
				return
			}
			if i%100 == 0 {
				if err := s.checkpointNow(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	for range 200 {
		if err := dropMapped(s.db); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
