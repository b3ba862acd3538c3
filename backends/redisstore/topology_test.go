package redisstore

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
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
			return s
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
