package redisstore

import (
	"context"
	"github.com/aspstate/aspstate/internal/testlog"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// lockedLog is a log destination the code under test writes from its own goroutines.
type lockedLog = testlog.Buffer

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// issue 17: Redis with an evicting maxmemory-policy loses sessions silently.
// The store reads the policy at connect, logs an error naming the setting,
// and reports it in Warnings; after Redis comes back with noeviction the
// warning is gone, and after it comes back evicting again it returns.
func TestEvictingPolicyIsReported(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
	var out lockedLog
	s := open(t, srv, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&out, nil)) })
	waitFor(t, "no warning for allkeys-lru", func() bool { return len(s.Warnings()) == 1 })
	if w := s.Warnings()[0]; !strings.Contains(w, "allkeys-lru") || !strings.Contains(w, "noeviction") {
		t.Errorf("warning %q does not name the policy and the setting to change", w)
	}
	if !strings.Contains(out.String(), "level=ERROR") || !strings.Contains(out.String(), "maxmemory-policy allkeys-lru") {
		t.Errorf("not logged loudly:\n%s", out.String())
	}

	// Redis restarts with noeviction: the next reconnect reads it again.
	srv.Client().ConfigSet(context.Background(), "maxmemory-policy", "noeviction")
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	backends.Get(ctx, s, "k") // fails: Redis is down
	cancel()
	srv.Restart()
	srv.Client().ConfigSet(context.Background(), "maxmemory-policy", "noeviction")
	waitFor(t, "the store did not answer again", func() bool {
		_, err := backends.Get(context.Background(), s, "k")
		return err == nil || err == backends.ErrNotFound
	})
	waitFor(t, "warning kept after noeviction", func() bool { return len(s.Warnings()) == 0 })
}

// A Redis with noeviction gives no warning.
func TestNoEvictionNoWarning(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "noeviction")
	s := open(t, srv, nil)
	put(t, s, "k", backends.Record{Data: []byte("x"), Timeout: 20})
	time.Sleep(200 * time.Millisecond)
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("Warnings = %q", w)
	}
}
