package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// Store is a durable backends.Backend on a badger database. See doc.go.
type Store struct {
	cfg   Config
	path  string
	db    *badger.DB
	wr    *committer // group commit of Apply's writes (commit.go)
	locks *locking.KeyLocks
	dl    *deadlines
	// expired counts records the sweeper removed because they expired.
	expired atomic.Int64
	// gcFlushes and gcRewrites count the value-log collector's forced
	// memtable flushes and rewritten value-log files (gc.go).
	gcFlushes  atomic.Int64
	gcRewrites atomic.Int64
	// syncs and syncNano count the periodic sync rounds (DurabilityStats).
	syncs    atomic.Uint64
	syncNano atomic.Int64
	// epoch is the store clock's reading at Open; in-memory times are
	// nanoseconds since it, which cannot overflow for ±292 years.
	epoch time.Time

	life   sync.RWMutex // guards closed; Apply holds it shared for its whole run so Close waits for in-flight calls
	closed bool

	pendingMu sync.Mutex // guards pending
	// pending holds keys whose deadline is getting close to the horizon on
	// disk; the maintenance goroutine rewrites their horizon in batches.
	pending map[string]struct{}

	// syncedVlog is the newest value-log file id synced by the "interval"
	// policy's previous round; only syncRound and Close use it (sync.go).
	syncedVlog int

	trimFailed bool // the trimmer logged a failure; only its goroutine uses it

	stop chan struct{}  // closed by Close to stop the goroutines below
	wg   sync.WaitGroup // the maintenance, value-log GC and (policy "interval") sync goroutines
}

var _ backends.Backend = (*Store)(nil)

// rel converts a time on the store's clock to nanoseconds since epoch.
func (s *Store) rel(t time.Time) int64 { return int64(t.Sub(s.epoch)) }

// relSec converts a horizon in Unix seconds (store clock) to nanoseconds since epoch.
func (s *Store) relSec(sec int64) int64 { return s.rel(time.Unix(sec, 0)) }

// horizonSec returns the Unix second (store clock) at or after rel.
func (s *Store) horizonSec(rel int64) int64 {
	t := s.epoch.Add(time.Duration(rel))
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// badgerExpiry maps a horizon on the store's clock to badger's ExpiresAt,
// which badger compares with the real wall clock. It is relative to now so
// that a test clock far from the wall clock still gives a sane TTL.
func badgerExpiry(hsec int64, now time.Time) uint64 {
	exp := time.Now().Add(time.Unix(hsec, 0).Sub(now)).Unix() + 1
	if exp < 1 {
		exp = 1
	}
	return uint64(exp)
}

// slack is how far the horizon written to disk runs ahead of the deadline.
// The horizon is rewritten once the deadline comes within slack/2 of it, so a
// session read continuously costs one write per slack/2, and a restart may
// keep a session alive up to slack longer than the memory backend would.
func slack(ttl time.Duration) time.Duration {
	return min(max(ttl, time.Minute), 5*time.Minute)
}

func ttlOf(r *backends.Record) time.Duration { return max(r.TTL(), 0) }

// Len returns the number of keys in the in-memory deadline index: every record
// on disk, including expired ones the sweeper has not removed yet. Approximate.
func (s *Store) Len() int { return s.dl.len() }

// Expired returns how many expired records the sweeper has removed.
func (s *Store) Expired() int64 { return s.expired.Load() }

// Apply runs fn on key's live record (nil when absent or expired) and applies
// the change. See backends.Backend.
func (s *Store) Apply(ctx context.Context, key string, fn backends.Transition) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return backends.ErrClosed
	}
	mu := s.locks.Lock(key)
	defer mu.Unlock()

	now := s.cfg.Now()
	a := applyRun{s: s, key: key, nowRel: s.rel(now), bkey: recordKey(key)}
	var cachedVal []byte
	a.e, cachedVal, a.inIndex = s.dl.lookup(key)
	if err := a.read(fn, cachedVal); err != nil {
		return fmt.Errorf("badgerstore: %s: read: %w", s.path, err)
	}
	switch a.ch.Action {
	case backends.Store:
		return a.store(now)
	case backends.Delete:
		return a.delete()
	default:
		return a.keep(now)
	}
}

// applyRun is one Apply under the key lock: what the transition saw and
// decided, and what is to be written.
type applyRun struct {
	s       *Store
	key     string
	bkey    []byte // the record's badger key
	nowRel  int64  // now, relative to Store.epoch
	e       entry  // the key's in-memory entry, if inIndex
	inIndex bool

	ch       backends.Change
	found    bool  // fn saw a live record
	onDisk   bool  // a record (live or expired) is on disk
	diskH    int64 // its horizon, relative
	ttl      time.Duration
	newVal   []byte // what to write: the new record, or the old one with a later horizon
	tooLarge bool
	fill     []byte // a copy of the record read from disk, for the cache
}

// read runs the transition fn on the record: the cached copy when there is
// one (cachedVal), else the one in badger. fn is a parameter, not a field:
// stored in applyRun it would escape, and every caller's closure with it.
func (a *applyRun) read(fn backends.Transition, cachedVal []byte) error {
	if cachedVal != nil {
		return a.decide(fn, cachedVal)
	}
	return a.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(a.bkey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return a.decide(fn, nil)
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if v == nil {
				// The key exists but badger could not read its value (it
				// logs why and returns none): never "no session".
				v = []byte{}
			}
			if err := a.decide(fn, v); err != nil {
				return err
			}
			if a.found && a.ch.Action == backends.Keep && a.newVal == nil && a.s.dl.budget > 0 {
				a.fill = append([]byte(nil), v...)
			}
			return nil
		})
	})
}

// decide runs the transition on the encoded record v (from the cache or
// from disk; nil when absent) and encodes what is to be written while v,
// which cur.Data and ch.Record.Data may alias, is still valid.
func (a *applyRun) decide(fn backends.Transition, v []byte) error {
	if v == nil {
		a.ch = fn(nil)
	} else {
		rec, hsec, err := decodeRecord(v)
		if err != nil {
			return err
		}
		a.onDisk = true
		a.diskH = a.s.relSec(hsec)
		eff := a.diskH
		if a.inIndex && a.e.d < eff {
			eff = a.e.d
		}
		if a.nowRel > eff {
			// Expired: invisible at once. Pin the in-memory deadline so the
			// sweeper removes it (after Open it may be an overestimate
			// taken from badger's TTL).
			a.s.dl.slide(a.key, eff)
			a.ch = fn(nil)
		} else {
			a.found = true
			a.ttl = ttlOf(&rec)
			a.ch = fn(&rec)
			if a.ch.Action == backends.Keep && a.nowRel+int64(a.ttl) > a.diskH {
				// The deadline would pass the horizon on disk: rewrite it
				// now, on a copy (v is the cache's or badger's).
				a.newVal = append([]byte(nil), v...)
			}
		}
	}
	if a.ch.Action == backends.Store {
		if len(a.ch.Record.Data) > a.s.cfg.MaxValueSize {
			a.tooLarge = true
			return nil
		}
		a.newVal = encodeRecord(&a.ch.Record, 0)
	}
	return nil
}

// store writes the transition's new record with a horizon past its deadline.
func (a *applyRun) store(now time.Time) error {
	s := a.s
	if a.tooLarge {
		return fmt.Errorf("badgerstore: %d-byte value (limit %d): %w",
			len(a.ch.Record.Data), s.cfg.MaxValueSize, backends.ErrTooLarge)
	}
	t := ttlOf(&a.ch.Record)
	d := a.nowRel + int64(t)
	hsec := s.horizonSec(d + int64(slack(t)))
	setHorizon(a.newVal, hsec)
	if err := s.write(a.bkey, a.newVal, hsec, now); err != nil {
		s.dl.uncache(a.key) // the write may or may not have landed
		return fmt.Errorf("badgerstore: %s: write: %w", s.path, err)
	}
	s.dl.put(a.key, d, a.newVal)
	return nil
}

// delete removes the record, from disk if it is there.
func (a *applyRun) delete() error {
	s := a.s
	if a.onDisk {
		if err := s.del(a.bkey); err != nil {
			s.dl.uncache(a.key)
			return fmt.Errorf("badgerstore: %s: delete: %w", s.path, err)
		}
	}
	s.dl.remove(a.key)
	return nil
}

// keep slides the deadline of a record the transition found and kept: in
// memory only, unless it would pass the horizon on disk, which is then
// rewritten now (or soon, by the background rewriter).
func (a *applyRun) keep(now time.Time) error {
	s := a.s
	if !a.found {
		return nil
	}
	d := a.nowRel + int64(a.ttl)
	if a.newVal != nil {
		hsec := s.horizonSec(d + int64(slack(a.ttl)))
		setHorizon(a.newVal, hsec)
		if err := s.write(a.bkey, a.newVal, hsec, now); err != nil {
			// The read itself succeeded; serve it. Memory keeps the true
			// deadline and the background rewriter retries. Only a crash
			// before that succeeds could shorten this session.
			s.cfg.Logger.Warn("badgerstore: extending a session's horizon failed", "path", s.path, "err", err)
			s.dl.slide(a.key, d)
			s.dl.uncache(a.key)
			s.enqueue(a.key)
			return nil
		}
		s.dl.put(a.key, d, a.newVal)
		return nil
	}
	s.dl.slideCache(a.key, d, a.fill)
	if d > a.diskH-int64(slack(a.ttl))/2 {
		s.enqueue(a.key)
	}
	return nil
}

// write stores one encoded record through the group committer. With
// SyncWrites it returns after the group's fsync.
func (s *Store) write(bkey, val []byte, hsec int64, now time.Time) error {
	return s.wr.write(bkey, val, badgerExpiry(hsec, now), false)
}

func (s *Store) del(bkey []byte) error {
	return s.wr.write(bkey, nil, 0, true)
}

func (s *Store) enqueue(key string) {
	s.pendingMu.Lock()
	s.pending[key] = struct{}{}
	s.pendingMu.Unlock()
}

// Close stops the background goroutines, removes expired records from disk,
// writes the exact deadlines to the snapshot file, closes the database and
// records its MANIFEST for the next Open (closemark.go).
// Idempotent.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return nil
	}
	s.closed = true
	s.life.Unlock()

	close(s.stop)
	s.wg.Wait()
	s.wr.close() // no Apply is running: life is held exclusively above
	_, serr := s.sweep()
	if serr != nil {
		serr = fmt.Errorf("badgerstore: %s: final sweep: %w", s.path, serr)
	}
	if s.cfg.Sync == SyncInterval {
		if err := s.syncFiles(); err != nil {
			serr = errors.Join(serr, fmt.Errorf("badgerstore: %s: final sync: %w", s.path, err))
		}
	}
	var werr error
	if err := s.writeSnapshot(); err != nil {
		werr = fmt.Errorf("badgerstore: %s: writing the deadline snapshot (the next Open falls back to upper bounds): %w", s.path, err)
	}
	var cerr error
	if err := s.db.Close(); err != nil {
		cerr = fmt.Errorf("badgerstore: %s: close: %w", s.path, err)
	} else if err := writeCloseMark(s.path); err != nil {
		cerr = fmt.Errorf("badgerstore: %s: writing the clean-close mark (the next Open cannot check the MANIFEST): %w", s.path, err)
	}
	return errors.Join(serr, werr, cerr)
}
