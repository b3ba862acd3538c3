package admin

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend"
)

// What the stores can tell cheaply: memstore keeps a count and a byte total,
// bbolt and badger a count of their deadline index. Locks, and bytes on the
// durable stores, need a walk (backends.Mover, paged, so requests go on
// meanwhile). Redis offers neither, and is shared: the metrics do not walk it
// (every gateway's scrapes would walk the same keys); only the overview does,
// when an operator asks for it.
type (
	lener   interface{ Len() int }
	byter   interface{ Bytes() int64 }
	expirer interface{ Expired() int64 }
	walker  interface {
		Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error
	}
)

// walkResult is what one walk of the store found.
type walkResult struct {
	at          time.Time // when the walk ended
	took        time.Duration
	sessions    int64
	bytes       int64
	locks       int64
	oldestLock  time.Time  // zero: no lock held
	oldest      []lockInfo // the oldest maxOldestLocks locks, oldest first (keepLocks only)
	err         error
	initialized bool
}

// lockInfo is a lock held, named by its key's hash (never the session ID).
type lockInfo struct {
	keyHash  string
	lockDate time.Time
}

// maxOldestLocks is how many locks the overview lists.
const maxOldestLocks = 50

// addOldest inserts l into the sorted list of the oldest locks, keeping at
// most maxOldestLocks.
func addOldest(list []lockInfo, key string, lockDate time.Time) []lockInfo {
	if len(list) == maxOldestLocks && !lockDate.Before(list[len(list)-1].lockDate) {
		return list
	}
	i := len(list)
	for i > 0 && lockDate.Before(list[i-1].lockDate) {
		i--
	}
	l := lockInfo{keyHash: frontend.KeyHash(key), lockDate: lockDate}
	if len(list) < maxOldestLocks {
		list = append(list, lockInfo{})
	}
	copy(list[i+1:], list[i:])
	list[i] = l
	return list
}

// storeStats caches the walk-derived gauges. A scrape that finds the last
// walk older than the interval starts one in the background and serves the
// last result; at most one walk runs at a time.
type storeStats struct {
	be        backends.Backend
	walk      walker // nil: the store cannot be walked
	keepLocks bool   // note the oldest locks (the overview's)
	interval  time.Duration
	log       *slog.Logger
	now       func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the walk in progress

	mu      sync.Mutex // guards last, running, started, done
	last    walkResult
	running bool
	started time.Time
	done    chan struct{} // closed when the running walk ends
}

// newStoreStats caches walks of w (nil: no walks) for be's gauges.
func newStoreStats(be backends.Backend, w walker, keepLocks bool, interval time.Duration, log *slog.Logger) *storeStats {
	ctx, cancel := context.WithCancel(context.Background())
	return &storeStats{be: be, walk: w, keepLocks: keepLocks, interval: interval, log: log, now: time.Now, ctx: ctx, cancel: cancel}
}

// metricsWalker is the walker for the metrics' gauges: the store itself,
// unless it cannot be walked or is shared.
func metricsWalker(be backends.Backend) walker {
	if sh, ok := be.(backends.Shared); ok && sh.Shared() {
		return nil
	}
	w, _ := be.(walker)
	return w
}

// snapshot returns the last walk and starts a new one if it is stale.
func (s *storeStats) snapshot() walkResult {
	r, _ := s.snapshotDone()
	return r
}

// snapshotDone is snapshot, and a channel closed when the walk running now
// (if any) ends.
func (s *storeStats) snapshotDone() (walkResult, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.walk != nil && !s.running && s.ctx.Err() == nil && s.now().Sub(s.started) >= s.interval {
		s.running, s.started = true, s.now()
		s.done = make(chan struct{})
		s.wg.Add(1)
		go s.run(s.done)
	}
	if !s.running {
		return s.last, nil
	}
	return s.last, s.done
}

// firstSnapshot is snapshot, but waits up to wait (or ctx) for the first
// walk when none has ended yet.
func (s *storeStats) firstSnapshot(ctx context.Context, wait time.Duration) walkResult {
	r, done := s.snapshotDone()
	if r.initialized || done == nil {
		return r
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	return s.snapshot()
}

// wait blocks until no walk is running (tests).
func (s *storeStats) wait() { s.wg.Wait() }

func (s *storeStats) close() {
	s.cancel()
	s.wg.Wait()
}

func (s *storeStats) run(done chan struct{}) {
	defer s.wg.Done()
	defer close(done)
	start := s.now()
	r := walkResult{initialized: true}
	r.err = s.walk.Walk(s.ctx, func(key string, rec *backends.Record, _ time.Time) error {
		r.sessions++
		r.bytes += int64(len(key) + len(rec.Data))
		if rec.Locked {
			r.locks++
			if r.oldestLock.IsZero() || rec.LockDate.Before(r.oldestLock) {
				r.oldestLock = rec.LockDate
			}
			if s.keepLocks {
				r.oldest = addOldest(r.oldest, key, rec.LockDate)
			}
		}
		return nil
	})
	r.at = s.now()
	r.took = r.at.Sub(start)
	if r.err != nil && s.ctx.Err() == nil {
		s.log.Warn("metrics: walking the store for its gauges failed", "err", r.err)
	}
	s.mu.Lock()
	if r.err == nil || !s.last.initialized {
		s.last = r
	} else {
		s.last.err = r.err
	}
	s.running = false
	s.mu.Unlock()
}

var (
	descSessions = prometheus.NewDesc("aspstate_sessions",
		"Sessions in the local store (memory, bbolt, badger; with peering, this gateway's share). Memory: may include expired sessions not yet swept.", nil, nil)
	descBytes = prometheus.NewDesc("aspstate_session_bytes",
		"Bytes of session keys and data in the local store (memory: now; bbolt, badger: as of the last walk).", nil, nil)
	descLocks = prometheus.NewDesc("aspstate_locks_held",
		"Sessions locked by a GetExclusive, as of the last walk.", nil, nil)
	descLockAge = prometheus.NewDesc("aspstate_lock_age_max_seconds",
		"Age of the oldest lock held, as of the last walk (0: none).", nil, nil)
	descWalkAge = prometheus.NewDesc("aspstate_store_walk_age_seconds",
		"Time since the walk behind aspstate_locks_held and friends ended.", nil, nil)
	descWalkTook = prometheus.NewDesc("aspstate_store_walk_duration_seconds",
		"How long the last walk of the store took.", nil, nil)
	descExpired = prometheus.NewDesc("aspstate_sessions_expired_total",
		"Sessions removed because they expired (memory, badger).", nil, nil)
	descWalkErr = prometheus.NewDesc("aspstate_store_walk_failed",
		"1 if the last walk of the store failed (the gauges are then from the last good one).", nil, nil)
)

// storeCollector reports the store's gauges.
type storeCollector struct{ s *storeStats }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descBytes, descExpired, descLocks, descLockAge, descWalkAge, descWalkTook, descWalkErr} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	w := s.snapshot()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	if l, ok := s.be.(lener); ok {
		gauge(descSessions, float64(l.Len()))
	} else if w.initialized {
		gauge(descSessions, float64(w.sessions))
	}
	if b, ok := s.be.(byter); ok {
		gauge(descBytes, float64(b.Bytes()))
	} else if w.initialized {
		gauge(descBytes, float64(w.bytes))
	}
	if e, ok := s.be.(expirer); ok {
		ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(e.Expired()))
	}
	if !w.initialized {
		return
	}
	gauge(descLocks, float64(w.locks))
	age := 0.0
	if !w.oldestLock.IsZero() {
		age = max(s.now().Sub(w.oldestLock).Seconds(), 0)
	}
	gauge(descLockAge, age)
	gauge(descWalkAge, s.now().Sub(w.at).Seconds())
	gauge(descWalkTook, w.took.Seconds())
	gauge(descWalkErr, b2f(w.err != nil))
}

var (
	descRedisPool = prometheus.NewDesc("aspstate_redis_pool_connections",
		"go-redis pool connections by state (total, idle), summed over Redis nodes.", []string{"state"}, nil)
	descRedisPoolEvents = prometheus.NewDesc("aspstate_redis_pool_events_total",
		"go-redis pool events: hits (a free connection), misses (a new one dialled), timeouts (none free in time), stale (closed as too old).",
		[]string{"event"}, nil)
)

// redisCollector reports go-redis's pool counters.
type redisCollector struct{ client redis.UniversalClient }

func redisCollectorFor(be backends.Backend) prometheus.Collector {
	c, ok := be.(interface{ Client() redis.UniversalClient })
	if !ok {
		return nil
	}
	return &redisCollector{client: c.Client()}
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRedisPool
	ch <- descRedisPoolEvents
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	var ps *redis.PoolStats
	switch cl := c.client.(type) {
	case *redis.Client:
		ps = cl.PoolStats()
	case *redis.ClusterClient:
		ps = cl.PoolStats()
	default:
		return
	}
	ch <- prometheus.MustNewConstMetric(descRedisPool, prometheus.GaugeValue, float64(ps.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(descRedisPool, prometheus.GaugeValue, float64(ps.IdleConns), "idle")
	for ev, v := range map[string]uint32{"hits": ps.Hits, "misses": ps.Misses, "timeouts": ps.Timeouts, "stale": ps.StaleConns} {
		ch <- prometheus.MustNewConstMetric(descRedisPoolEvents, prometheus.CounterValue, float64(v), ev)
	}
}
