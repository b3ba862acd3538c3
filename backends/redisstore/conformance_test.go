package redisstore

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// harness opens Stores on srv. The suite's dir (unique per subtest) becomes
// the key prefix, so reopening the same dir finds the same data: Redis keeps
// it for as long as the server runs, which is what Durable asks here.
func harness(srv *redistest.Server) backendtest.Harness { return harnessWith(srv, false) }

// harnessWith is harness on either path: goRedisOnly sends every command
// through go-redis alone (see Config.goRedisOnly).
func harnessWith(srv *redistest.Server, goRedisOnly bool) backendtest.Harness {
	return backendtest.Harness{
		Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend {
			s, err := Open(Config{
				Addrs:        []string{srv.Addr()},
				KeyPrefix:    "bt:" + dir + ":",
				Now:          aheadOfRedis(now),
				MaxValueSize: 1 << 20,
				Logger:       slog.New(slog.DiscardHandler),
				goRedisOnly:  goRedisOnly,
			})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return shifted{s}
		},
		Durable:      true,
		MaxValueSize: 1 << 20,
	}
}

// aheadOfRedis runs the suite's clock a year ahead. Deadlines are Redis
// expire times on the gateway's clock, and Redis removes a key once its own
// clock passes them; the suite's clock stands still while real time goes
// on, so a deadline a minute after the suite's start would otherwise be
// reached by Redis in the middle of a long run. Only differences between
// times matter to the store, so the shift changes nothing else.
func aheadOfRedis(now func() time.Time) func() time.Time {
	return func() time.Time { return now().Add(ahead) }
}

// ahead is how far aheadOfRedis runs the store's clock.
const ahead = 365 * 24 * time.Hour

// shifted is a Store whose Mover deadlines are on the suite's clock: the
// store's own run a year ahead of it (aheadOfRedis), and the Mover cases
// compare deadlines with the suite's clock.
type shifted struct{ *Store }

func (s shifted) Walk(ctx context.Context, fn func(string, *backends.Record, time.Time) error) error {
	return s.Store.Walk(ctx, func(key string, rec *backends.Record, expires time.Time) error {
		return fn(key, rec, expires.Add(-ahead))
	})
}

func (s shifted) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	rec, expires, err := s.Store.Peek(ctx, key)
	if err != nil {
		return rec, expires, err
	}
	return rec, expires.Add(-ahead), nil
}

func (s shifted) Install(ctx context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	return s.Store.Install(ctx, key, rec, expires.Add(ahead), replace)
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, harness(redistest.Start(t)))
}

// TestConformanceGoRedis runs the suite on the go-redis-only path measured
// for issue 16.
func TestConformanceGoRedis(t *testing.T) {
	backendtest.Run(t, harnessWith(redistest.Start(t), true))
}

func TestDifferential(t *testing.T) {
	backendtest.RunDifferential(t, harness(redistest.Start(t)))
}

func TestDifferentialGoRedis(t *testing.T) {
	backendtest.RunDifferential(t, harnessWith(redistest.Start(t), true))
}
