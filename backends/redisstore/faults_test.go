package redisstore

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// webTimeout is the web server's stateNetworkTimeout: an answer or an error
// must come well within it.
const webTimeout = 10 * time.Second

// mustFail runs one read and one write against an unavailable Redis and
// checks that each fails, within the time the web server waits, without ever
// reporting the existing session as absent or the write as stored.
func mustFail(t *testing.T, s *Store, key string) {
	t.Helper()
	for _, op := range []struct {
		name string
		fn   backends.Transition
	}{
		{"read", func(cur *backends.Record) backends.Change {
			if cur == nil {
				t.Error("read: transition saw the existing session as absent")
			}
			return backends.Change{}
		}},
		{"write", func(*backends.Record) backends.Change {
			return backends.Change{Action: backends.Store, Record: backends.Record{Data: []byte("lost?"), Timeout: 20}}
		}},
	} {
		start := time.Now()
		err := s.Apply(context.Background(), key, op.fn)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s: Apply succeeded while Redis was unavailable", op.name)
		}
		if errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("%s: Apply = %v: an outage reported as absence", op.name, err)
		}
		if took > webTimeout/2 {
			t.Fatalf("%s: Apply took %v to fail, too close to the web server's %v", op.name, took, webTimeout)
		}
		t.Logf("%s failed after %v: %v", op.name, took.Round(time.Millisecond), err)
	}
}

// recovers polls with plain Gets until one succeeds and finds want, and
// fails unless that happens within 2 s.
func recovers(t *testing.T, s *Store, key string, want func(backends.Record, bool) bool) {
	t.Helper()
	took := eventually(t, 2*time.Second, "requests succeed again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		rec, err := backends.Get(ctx, s, key)
		if err != nil && !errors.Is(err, backends.ErrNotFound) {
			return false
		}
		if !want(rec, err == nil) {
			t.Fatalf("after recovery Get = %q, found %v", rec.Data, err == nil)
		}
		return true
	})
	t.Logf("recovered %v after Redis came back", took.Round(time.Millisecond))
}

// TestRedisStall: a SIGSTOPped Redis accepts connections and answers nothing.
func TestRedisStall(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	put(t, s, "k", backends.Record{Data: []byte("before"), Timeout: 20})
	srv.Pause()
	mustFail(t, s, "k")
	srv.Resume()
	// The write that failed may still land when Redis reads its socket: the
	// contract says nothing may be assumed written, not that nothing was.
	recovers(t, s, "k", func(r backends.Record, found bool) bool {
		return found && (string(r.Data) == "before" || string(r.Data) == "lost?")
	})
}

// TestRedisRestart: a stopped Redis refuses connections; the restarted one
// is empty (persistence is off) and serves at once.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	// A small pool so that the failures below trip go-redis's dial circuit
	// breaker whatever GOMAXPROCS is.
	s := open(t, srv, func(c *Config) { c.PoolSize = 4 })
	put(t, s, "k", backends.Record{Data: []byte("before"), Timeout: 20})
	srv.Stop()
	mustFail(t, s, "k")
	// Enough failures to trip go-redis's dial circuit breaker, which then
	// probes once a second: recovery must still come within 2 s.
	for range 20 {
		_ = s.Apply(context.Background(), "k", func(*backends.Record) backends.Change { return backends.Change{} })
	}
	srv.Restart()
	recovers(t, s, "k", func(_ backends.Record, found bool) bool { return !found })
	put(t, s, "k", backends.Record{Data: []byte("after"), Timeout: 20})
}

// TestRestartWithIdleConnections: after a quick Redis restart, every idle
// pipeline connection is stale. The first request must still succeed: the
// one resend goes on a new connection, not on another stale one.
func TestRestartWithIdleConnections(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, func(c *Config) { c.Pipelines = 3 })
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 20})
	// Three connections that have served batches, idle.
	deadline := time.Now().Add(5 * time.Second)
	var conns []*pipeConn
	for range 3 {
		pc, err := s.batch.pipes.get(deadline)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, pc)
	}
	for _, pc := range conns {
		s.batch.pipes.put(pc)
	}
	srv.Restart()
	if _, err := backends.Get(bg(t), s, "k"); err != backends.ErrNotFound {
		t.Fatalf("first Get after a restart: %v, want ErrNotFound (Redis lost the data, no persistence)", err)
	}
	if n := s.batch.pipes.open.Load(); n != 1 {
		t.Errorf("%d pipeline connections open after the restart, want 1 (the stale ones closed)", n)
	}
}

// TestNoLeakAcrossOutage drives load through a stall and a restart and checks
// that goroutines and connections come back to where they were, on both sides
// of the socket.
func TestNoLeakAcrossOutage(t *testing.T) {
	srv := redistest.Start(t)
	inspect := srv.Client()
	ctx := bg(t)
	_ = inspect.Ping(ctx).Err()
	base := settledGoroutines()

	// Three pipelines, so that several of the store's own connections are
	// busy and idle at once when Redis goes away.
	const poolSize, workers, pipelines = 8, 8, 3
	s, err := Open(Config{Addrs: []string{srv.Addr()}, KeyPrefix: "leak:", PoolSize: poolSize,
		Pipelines: pipelines, Logger: newLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	load := func(d time.Duration) {
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := "k" + strconv.Itoa(w)
				for time.Now().Before(stop) {
					cctx, cancel := context.WithTimeout(context.Background(), time.Second)
					err := s.Apply(cctx, key, increment)
					cancel()
					if err == nil {
						ok.Add(1)
					} else {
						failed.Add(1)
						time.Sleep(20 * time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
	}
	load(300 * time.Millisecond)
	warm := s.Client().PoolStats().TotalConns
	running := settledGoroutines()

	// Stall under load, then a restart under load.
	go func() {
		time.Sleep(100 * time.Millisecond)
		srv.Pause()
		time.Sleep(1500 * time.Millisecond)
		srv.Resume()
	}()
	load(2 * time.Second)
	go func() { time.Sleep(100 * time.Millisecond); srv.Stop(); time.Sleep(time.Second); srv.Restart() }()
	load(2 * time.Second)
	failedDuringOutages := failed.Load()
	before := ok.Load()
	load(500 * time.Millisecond)
	if ok.Load() == before {
		t.Fatal("no request succeeded after the outages")
	}
	if failedDuringOutages == 0 {
		t.Fatal("no request failed during the outages: the faults were not injected")
	}
	t.Logf("%d applies succeeded, %d failed during the outages", ok.Load(), failedDuringOutages)

	// Nothing started during the outages is still running once Redis is back.
	waitGoroutines(t, running, "after the outages, with the store open")

	stats := s.Client().PoolStats()
	if stats.TotalConns > poolSize || stats.TotalConns > warm+workers {
		t.Errorf("pool holds %d connections after the outages (pool size %d, %d before)", stats.TotalConns, poolSize, warm)
	}
	if n := s.batch.pipes.open.Load(); n > pipelines {
		t.Errorf("%d pipeline connections open after the outages, want at most %d", n, pipelines)
	}
	// Redis sees the same connections, plus the inspecting client: none of
	// the sockets dropped during the outage are still open on either side.
	eventually(t, 5*time.Second, "server-side connections match the pools", func() bool {
		n, err := connectedClients(ctx, inspect)
		return err == nil && n <= int(s.Client().PoolStats().TotalConns)+int(s.batch.pipes.open.Load())+1
	})

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.batch.pipes.open.Load(); n != 0 {
		t.Errorf("%d pipeline connections open after Close", n)
	}
	waitGoroutines(t, base, "after Close")
}

// waitGoroutines waits until at most n goroutines run, allowing for
// go-redis's dial prober, which sleeps a second between probes.
func waitGoroutines(t *testing.T, n int, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines %s, want at most %d:\n%s", runtime.NumGoroutine(), when, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledGoroutines waits for the goroutine count to stop falling (earlier
// tests' leftovers finishing) and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// connectedClients counts the server's client connections.
func connectedClients(ctx context.Context, c *redis.Client) (int, error) {
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	return strings.Count(list, "\n"), nil
}
