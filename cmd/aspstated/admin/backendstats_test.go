package admin

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/backends/redisstore"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

func TestBoltSyncsLogSizeAndExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	be, err := boltstore.Open(boltstore.Config{Path: filepath.Join(t.TempDir(), "s.db"), Now: clock,
		SweepInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := start(t, be, "bbolt", nil)
	before := g.metric("aspstate_store_syncs_total")
	for i := range 5 {
		g.session(put(fmt.Sprintf("s%d", i))) // one connection each: no group commit
	}
	if got := g.metric("aspstate_store_syncs_total") - before; got < 5 {
		t.Errorf("5 acknowledged writes under sync always counted %v syncs", got)
	}
	if g.metric("aspstate_store_sync_seconds_total") <= 0 {
		t.Error("no time spent in syncs")
	}
	if g.metric("aspstate_store_log_bytes") <= 0 {
		t.Error("no write-ahead log bytes reported after writes")
	}
	mu.Lock()
	now = now.Add(21 * time.Minute)
	mu.Unlock()
	eventually(t, "the sweeper's 5 expiries counted", func() bool { return g.metric("aspstate_sessions_expired_total") == 5 })
}

func TestBadgerSyncRounds(t *testing.T) {
	be, err := badgerstore.Open(badgerstore.Config{Path: t.TempDir(), Sync: badgerstore.SyncInterval,
		SyncInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := start(t, be, "badger", nil)
	g.session(put("s"))
	eventually(t, "sync rounds counted", func() bool { return g.metric("aspstate_store_syncs_total") >= 2 })
	if v := g.metric("aspstate_store_log_bytes"); v < 0 {
		t.Errorf("aspstate_store_log_bytes absent")
	}
}

func TestRedisPipelinesAndConflictRetries(t *testing.T) {
	rs := redistest.Start(t)
	open := func() *redisstore.Store {
		be, err := redisstore.Open(redisstore.Config{Addrs: []string{rs.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { be.Close() })
		return be
	}
	be, other := open(), open()
	g := start(t, be, "redis", nil)
	for i := range 10 {
		g.session(put(fmt.Sprintf("s%d", i)))
	}
	pipes, ops := g.metric("aspstate_redis_pipelines_total"), g.metric("aspstate_redis_pipelined_operations_total")
	if pipes < 1 || ops < pipes {
		t.Fatalf("after 10 writes: %v pipelines carrying %v operations", pipes, ops)
	}
	// Two gateways increment one record's cookie at once until one of them
	// has to run an Apply again.
	bump := func(cur *backends.Record) backends.Change {
		r := *cur
		r.LockCookie++
		return backends.Change{Action: backends.Store, Record: r}
	}
	if err := backends.Put(context.Background(), be, "hot", backends.Record{Timeout: 20}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.metric(`aspstate_redis_retries_total{reason="conflict"}`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no conflict retry counted in 10s of two gateways writing one key")
		}
		var wg sync.WaitGroup
		for _, s := range []*redisstore.Store{be, other, be, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if err := s.Apply(context.Background(), "hot", bump); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}
