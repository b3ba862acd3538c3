package redisstore

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// TestCluster runs the conformance suite and the two-gateway counter against
// a three-node Redis Cluster: every operation must stay on one slot.
func TestCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	addrs := redistest.Addrs(nodes)
	h := backendtest.Harness{
		Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend {
			s, err := Open(Config{Addrs: addrs, KeyPrefix: "bt:" + dir + ":", Now: aheadOfRedis(now),
				MaxValueSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if _, ok := s.Client().(*redis.ClusterClient); !ok {
				t.Fatalf("Open with %d addrs made a %T, want a cluster client", len(addrs), s.Client())
			}
			return shifted{s}
		},
		Durable:      true,
		MaxValueSize: 1 << 20,
	}
	backendtest.Run(t, h)

	t.Run("TwoGatewaysManyKeys", func(t *testing.T) {
		cfg := func(c *Config) { c.Addrs = addrs; c.KeyPrefix = "shared:" }
		a, b := open(t, nodes[0], cfg), open(t, nodes[0], cfg)
		const keys, rounds = 24, 20
		var wg sync.WaitGroup
		for _, s := range []*Store{a, b} {
			for k := range keys {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						if err := s.Apply(bg(t), "counter"+strconv.Itoa(k), increment); err != nil {
							t.Errorf("Apply: %v", err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		for k := range keys {
			rec, ok := get(t, a, "counter"+strconv.Itoa(k))
			if n := binary.BigEndian.Uint64(rec.Data); !ok || n != 2*rounds {
				t.Fatalf("counter%d = %d, want %d", k, n, 2*rounds)
			}
		}
		// The keys really are spread over the nodes.
		for _, n := range nodes {
			if size := n.Client().DBSize(bg(t)).Val(); size == 0 {
				t.Errorf("node %s holds no keys", n.Addr())
			}
		}
	})

	// The release script reads the interest key beside the record: both
	// must be in one hash slot, on every node, or the script is refused.
	t.Run("ReleaseNoticesOnEveryNode", func(t *testing.T) {
		cfg := func(c *Config) { c.Addrs = addrs; c.KeyPrefix = "notices:" }
		a, b := open(t, nodes[0], cfg), open(t, nodes[0], cfg)
		heard := make(chan string, 64)
		if err := a.NotifyReleases(func(key string) { heard <- key }); err != nil {
			t.Fatal(err)
		}
		if err := b.NotifyReleases(func(string) {}); err != nil {
			t.Fatal(err)
		}
		for k := range 24 {
			key := "s" + strconv.Itoa(k)
			if err := a.ExpectRelease(bg(t), key, time.Second); err != nil {
				t.Fatalf("ExpectRelease(%s): %v", key, err)
			}
			// The first notices may go out before the subscription is
			// made: release until one is heard.
			deadline := time.Now().Add(5 * time.Second)
			for got := ""; got != key; {
				if time.Now().After(deadline) {
					t.Fatalf("no release notice for %s within 5s", key)
				}
				lockAndRelease(t, b, key)
				select {
				case got = <-heard:
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	})

	t.Run("ReadsNeedNoScript", func(t *testing.T) {
		s := open(t, nodes[0], func(c *Config) { c.Addrs = addrs; c.KeyPrefix = "reads:" })
		const keys = 48
		for k := range keys {
			put(t, s, "k"+strconv.Itoa(k), backends.Record{Data: []byte("v" + strconv.Itoa(k)), Timeout: 20})
		}
		for _, n := range nodes {
			n.Client().ConfigResetStat(bg(t))
		}
		// Concurrent, so that batches hold reads for several nodes.
		var wg sync.WaitGroup
		for k := range keys {
			wg.Go(func() {
				rec, err := backends.Get(bg(t), s, "k"+strconv.Itoa(k))
				if err != nil || string(rec.Data) != "v"+strconv.Itoa(k) {
					t.Errorf("Get(k%d) = %q, %v", k, rec.Data, err)
				}
			})
		}
		wg.Wait()
		calls := func(cmd string) (sum int) {
			for _, n := range nodes {
				sum += commandCalls(t, n.Client(), cmd)
			}
			return sum
		}
		// One MULTI block per read (a block must stay in one slot), no script.
		if got := calls("evalsha") + calls("eval"); got != 0 {
			t.Errorf("%d scripts for %d reads, want none", got, keys)
		}
		if got := calls("exec"); got != keys {
			t.Errorf("%d EXECs for %d reads, want one each", got, keys)
		}
		if got := calls("getex"); got != keys {
			t.Errorf("%d GETEXs for %d reads, want one each", got, keys)
		}
	})

	t.Run("SlotMoved", func(t *testing.T) {
		// The hash tag puts both records in one slot.
		s := open(t, nodes[0], func(c *Config) { c.Addrs = addrs; c.KeyPrefix = "moved:{t}:" })
		put(t, s, "r", backends.Record{Data: []byte("r1"), Timeout: 20})
		put(t, s, "w", backends.Record{Data: []byte("w1"), Timeout: 20})
		rkeys := []string{s.cfg.KeyPrefix + "s:r", s.cfg.KeyPrefix + "s:w"}
		src, dst := moveSlot(t, nodes, rkeys)
		// The store's slot map still names src. w is in the write cache, so
		// this Put starts with the CAS script, which src refuses (MOVED);
		// it is sent again through go-redis, which follows the redirection.
		put(t, s, "w", backends.Record{Data: []byte("w2"), Timeout: 20})
		// A read's MULTI block is refused likewise; the read goes by script.
		s2 := open(t, nodes[0], func(c *Config) { c.Addrs = addrs; c.KeyPrefix = "moved:{t}:" })
		put(t, s2, "w", backends.Record{Data: []byte("w1"), Timeout: 20}) // loads s2's slot map
		src2, dst2 := moveSlot(t, nodes, rkeys)
		if rec, ok := get(t, s2, "r"); !ok || string(rec.Data) != "r1" {
			t.Fatalf("Get after the slot moved = %q, %v; want the record", rec.Data, ok)
		}
		if rec, ok := get(t, s, "w"); !ok || string(rec.Data) != "w1" {
			t.Fatalf("Get(w) = %q, %v; want the second store's write", rec.Data, ok)
		}
		for _, n := range []*redistest.Server{src, dst, src2, dst2} {
			want := int64(0)
			if n == dst2 {
				want = 2
			}
			if got := n.Client().Exists(bg(t), rkeys...).Val(); got != want {
				t.Errorf("node %s holds %d of the records, want %d", n.Addr(), got, want)
			}
		}
	})

	// Runs last: a paused node must come back before the cluster marks it
	// as failed (cluster-node-timeout is 2 s).
	t.Run("NodeStalls", func(t *testing.T) {
		s := open(t, nodes[0], func(c *Config) {
			c.Addrs, c.KeyPrefix, c.OpTimeout = addrs, "stall:", 500*time.Millisecond
		})
		stalled := nodes[1]
		var onStalled string
		var healthy []string
		for k := 0; len(healthy) < 10 || onStalled == ""; k++ {
			key := "k" + strconv.Itoa(k)
			put(t, s, key, backends.Record{Data: []byte(key), Timeout: 20})
			if stalled.Client().Exists(bg(t), s.cfg.KeyPrefix+"s:"+key).Val() == 0 {
				healthy = append(healthy, key)
			} else if onStalled == "" {
				onStalled = key
			}
		}
		stalled.Pause()
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				stalled.Resume()
			}
		})
		// Reads of a key on the stalled node keep failing (never "not
		// found"), one after another, while the other nodes' keys are read.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := backends.Get(bg(t), s, onStalled); err == nil || errors.Is(err, backends.ErrNotFound) {
					t.Errorf("Get on the stalled node = %v, want a failure", err)
					return
				}
			}
		})
		time.Sleep(50 * time.Millisecond) // a read for the stalled node is in flight
		// The stalled node holds up only its own calls: each of these would
		// reach its 500 ms deadline queued behind a read that cannot finish
		// if the store's pipelines were shared by all nodes.
		for _, key := range healthy {
			if rec, ok := get(t, s, key); !ok || string(rec.Data) != key {
				t.Fatalf("Get(%s) on a healthy node = %q, %v", key, rec.Data, ok)
			}
		}
		close(stop)
		wg.Wait()
		stalled.Resume()
		resumed = true
		eventually(t, 3*time.Second, "the stalled node's keys readable again", func() bool {
			rec, err := backends.Get(bg(t), s, onStalled)
			return err == nil && string(rec.Data) == onStalled
		})
	})

	// After NodeStalls: it stops every node.
	t.Run("UnreachableAtStartup", func(t *testing.T) {
		for _, n := range nodes {
			n.Stop()
		}
		s := open(t, nodes[0], func(c *Config) {
			c.Addrs, c.KeyPrefix, c.OpTimeout = addrs, "down:", 300*time.Millisecond
		})
		// No slot map can be loaded: each call fails by its deadline,
		// never as "not found".
		failsByDeadline(t, s, "with every node down")
		for _, n := range nodes {
			n.Restart()
		}
		eventually(t, 15*time.Second, "the store serves once the cluster is back", func() bool {
			return backends.Put(bg(t), s, "k", backends.Record{Data: []byte("x"), Timeout: 20}) == nil
		})
		if rec, ok := get(t, s, "k"); !ok || string(rec.Data) != "x" {
			t.Fatalf("Get after recovery = %q, %v", rec.Data, ok)
		}
	})
}

// commandCalls returns how many times cmd ran on a node since its stats
// were last reset.
func commandCalls(t *testing.T, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(bg(t), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	_, rest, ok := strings.Cut(info, "cmdstat_"+cmd+":calls=")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	if err != nil {
		t.Fatalf("INFO commandstats for %s: %v", cmd, err)
	}
	return n
}

// moveSlot migrates the hash slot of keys (one slot), with the keys, from
// the node that serves it to another, as redis-cli --cluster reshard does,
// and returns both nodes.
func moveSlot(t *testing.T, nodes []*redistest.Server, keys []string) (src, dst *redistest.Server) {
	t.Helper()
	ctx := bg(t)
	slot, err := nodes[0].Client().ClusterKeySlot(ctx, keys[0]).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	for _, n := range nodes {
		if n.Client().Exists(ctx, keys[0]).Val() == 1 {
			src = n
		} else if dst == nil {
			dst = n
		}
	}
	if src == nil || dst == nil {
		t.Fatalf("no node holds %q", keys[0])
	}
	id := func(n *redistest.Server) string { return n.Client().Do(ctx, "cluster", "myid").Val().(string) }
	srcID, dstID := id(src), id(dst)
	type step struct {
		n    *redistest.Server
		args []any
	}
	migrate := []any{"migrate", "127.0.0.1", dst.Port(), "", 0, 5000, "keys"}
	for _, k := range keys {
		migrate = append(migrate, k)
	}
	steps := []step{
		{dst, []any{"cluster", "setslot", slot, "importing", srcID}},
		{src, []any{"cluster", "setslot", slot, "migrating", dstID}},
		{src, migrate},
	}
	for _, n := range nodes {
		steps = append(steps, step{n, []any{"cluster", "setslot", slot, "node", dstID}})
	}
	for _, st := range steps {
		if err := st.n.Client().Do(ctx, st.args...).Err(); err != nil {
			t.Fatalf("%v on %s: %v", st.args, st.n.Addr(), err)
		}
	}
	return src, dst
}

// TestACL: Username and Password reach Redis as an ACL login.
func TestACL(t *testing.T) {
	srv := redistest.Start(t, "--user", "default", "off",
		"--user", "gateway", "on", ">s3cret", "~aspstate:*", "+@all")
	good := open(t, srv, func(c *Config) { c.KeyPrefix = ""; c.Username = "gateway"; c.Password = "s3cret" })
	put(t, good, "k", backends.Record{Data: []byte("x"), Timeout: 1})
	if _, ok := get(t, good, "k"); !ok {
		t.Fatal("record not found")
	}
	bad := open(t, srv, func(c *Config) { c.KeyPrefix = ""; c.Username = "gateway"; c.Password = "wrong" })
	_, err := backends.Get(bg(t), bad, "k")
	if err == nil || errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get with a wrong password = %v, want an authentication error", err)
	}
	// The key pattern in the ACL is enforced on the script's key too.
	outside := open(t, srv, func(c *Config) { c.KeyPrefix = "other:"; c.Username = "gateway"; c.Password = "s3cret" })
	if err := backends.Put(bg(t), outside, "k", backends.Record{Data: []byte("x"), Timeout: 1}); err == nil {
		t.Fatal("Put outside the user's key pattern succeeded")
	}
}

// TestSentinel: with MasterName, the store asks the sentinel for the master.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "sessions")
	s := open(t, sentinel, func(c *Config) { c.MasterName = "sessions"; c.DB = 2 })
	put(t, s, "k", backends.Record{Data: []byte("via sentinel"), Timeout: 1})
	if got, ok := get(t, s, "k"); !ok || string(got.Data) != "via sentinel" {
		t.Fatalf("Get = %q, %v", got.Data, ok)
	}
	db2 := redis.NewClient(&redis.Options{Addr: master.Addr(), DB: 2})
	defer db2.Close()
	if n := db2.Exists(bg(t), s.cfg.KeyPrefix+"s:k").Val(); n != 1 {
		t.Fatal("the record is not in database 2 of the master")
	}
}

// TestClusterSeedsThatNeverAnswer: the Cluster's seed addresses accept
// connections and then say nothing (a node hung, or a firewall that drops
// packets after the handshake). Loading the slot map never finishes, so each
// call must fail by its own deadline, never as "not found" and never after
// waiting for go-redis's own timeouts per seed.
func TestClusterSeedsThatNeverAnswer(t *testing.T) {
	var addrs []string
	var mu sync.Mutex
	var held []net.Conn
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		addrs = append(addrs, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c) // read nothing, answer nothing
				mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	s, err := Open(Config{Addrs: addrs, OpTimeout: 300 * time.Millisecond,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, DialTimeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	failsByDeadline(t, s, "with seeds that never answer")
}

// failsByDeadline checks that a Get and a Put on s fail, not as "not
// found", within about s's 300ms OpTimeout (2 s at most).
func failsByDeadline(t *testing.T, s *Store, when string) {
	t.Helper()
	for _, op := range []string{"Get", "Put"} {
		start := time.Now()
		var err error
		if op == "Get" {
			_, err = backends.Get(bg(t), s, "k")
		} else {
			err = backends.Put(bg(t), s, "k", backends.Record{Data: []byte("x"), Timeout: 20})
		}
		if err == nil || errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("%s %s = %v, want a failure", op, when, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s %s failed after %v, want about its 300ms deadline", op, when, took)
		}
	}
}
