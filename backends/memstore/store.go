package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// numShards spreads keys over independent locks and maps so that requests on
// different keys rarely wait for each other or for the sweeper.
const numShards = 256

// Store is an in-memory backend. Create it with New; the zero value is not
// usable.
type Store struct {
	now      func() time.Time
	maxBytes int64
	maxValue int
	log      *slog.Logger
	seed     maphash.Seed
	// hashMask is all ones; tests clear bits of it to force hash collisions.
	hashMask uint64

	count atomic.Int64 // live entries, for Len
	// expired counts records removed because their deadline passed (by the
	// sweeper, or by a request that found one first), for Expired.
	expired atomic.Int64
	bytes   atomic.Int64 // key+Data bytes of live entries, for Bytes and the MaxBytes cap
	closed  atomic.Bool
	// fullLogged is set once a capacity warning has been logged and cleared by
	// the next growing Store that fits, so a full store logs once per episode
	// rather than once per rejected request.
	fullLogged atomic.Bool

	sweepMu sync.Mutex // guards pending and the sweep itself: one sweep at a time owns the shards' cursors
	pending []uint16   // shards with sweeping left to do, reused from tick to tick
	stop    chan struct{}
	wg      sync.WaitGroup // the sweeper goroutine
	once    sync.Once      // Close

	shards [numShards]shard
}

// shard is one lock's worth of the key space, with its own timing wheel.
type shard struct {
	mu sync.Mutex // guards m, wheel, next, cursor, scratch and every field of every entry reachable from them

	// m finds entries by the 64-bit hash of their key, which Apply computes
	// anyway to pick the shard: a map with integer keys does not hash the
	// key a second time. An entry whose key's hash is already taken by
	// another key goes in collided instead, which is almost always empty
	// (with 64-bit hashes, a collision among a million keys has odds of
	// about 1 in 30 million).
	m        map[uint64]*entry
	collided map[string]*entry
	wheel    [wheelSlots]*entry // heads of doubly linked lists, by due second mod wheelSlots
	// next is the first second the sweeper has not finished. Entries are never
	// filed under an earlier second, which would only be visited a lap later.
	next int64
	// sweepSec is the second the sweeper is in, from the start of a sweep to
	// next; cursor is its next entry in that second's slot, kept while it
	// releases mu between batches (unlink moves it on if a request removes
	// that entry meanwhile). cursor is nil outside a sweep.
	sweepSec int64
	cursor   *entry
	// scratch is the record handed to transitions. Reusing it (under mu) keeps
	// the read path free of allocations.
	scratch backends.Record
}

// entry is one stored record plus its place in the timing wheel. It is kept
// small (96-byte size class) because a million of them must fit in little
// memory alongside their data.
type entry struct {
	key      string // same backing bytes as the map key
	data     []byte // never mutated in place, so transitions may read it without a copy
	deadline int64  // unix ns; the record is visible while now <= deadline
	lockDate int64  // unix ns, meaningful when flagLockDate is set
	due      int64  // the second under which the entry is filed in the wheel
	prev     *entry
	next     *entry
	timeout  int32
	cookie   int32
	flags    uint8
}

const (
	flagLocked uint8 = 1 << iota
	flagUninitialized
	flagLockDate
)

// New returns a ready Store and starts its sweeper; Close stops it.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		now:      cfg.Now,
		maxBytes: cfg.MaxBytes,
		maxValue: cfg.MaxValueSize,
		log:      cfg.Logger,
		seed:     maphash.MakeSeed(),
		hashMask: math.MaxUint64,
		stop:     make(chan struct{}),
		pending:  make([]uint16, 0, numShards),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	start := floorSec(s.now().UnixNano())
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]*entry)
		s.shards[i].next = start
	}
	s.wg.Add(1)
	go s.sweepLoop()
	return s, nil
}

// Len returns the number of stored records, including expired ones the
// sweeper has not removed yet (at most about a second's worth).
func (s *Store) Len() int { return int(s.count.Load()) }

// Bytes returns the key plus Data bytes of the stored records, the quantity
// MaxBytes caps.
func (s *Store) Bytes() int64 { return s.bytes.Load() }

// Expired returns how many records have been removed because they expired.
func (s *Store) Expired() int64 { return s.expired.Load() }

// StableData implements backends.StableData: stored bytes are never written
// in place, so the Data a transition saw stays valid after Apply returns.
func (s *Store) StableData() bool { return true }

// BorrowedKeys implements backends.BorrowedKeys: a new entry's key is
// cloned, and nothing else keeps the key after Apply returns.
func (s *Store) BorrowedKeys() bool { return true }

var (
	_ backends.StableData   = (*Store)(nil)
	_ backends.BorrowedKeys = (*Store)(nil)
)

// Apply implements backends.Backend. The transition runs under the key's
// shard lock, so it must be quick and must not call back into the Store.
func (s *Store) Apply(ctx context.Context, key string, fn backends.Transition) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	h := s.hash(key)
	sh := &s.shards[h%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return backends.ErrClosed
	}
	now := s.now().UnixNano()

	e := sh.find(h, key)
	if e != nil && now > e.deadline {
		// Expired but not swept yet: invisible, and gone now that we are here.
		s.removeLocked(sh, e)
		s.expired.Add(1)
		e = nil
	}
	var cur *backends.Record
	if e != nil {
		cur = &sh.scratch
		e.fill(cur)
		// Every access that finds the record slides it, whatever follows.
		s.setDeadlineLocked(sh, e, deadlineAfter(now, e.timeout))
	}
	ch := fn(cur)
	sh.scratch = backends.Record{} // keep no reference to the data once fn returns

	switch ch.Action {
	case backends.Keep:
		return nil
	case backends.Delete:
		if e != nil {
			s.removeLocked(sh, e)
		}
		return nil
	case backends.Store:
		return s.storeLocked(sh, h, key, e, &ch.Record, deadlineAfter(now, ch.Record.Timeout))
	}
	return fmt.Errorf("memstore: transition returned unknown action %v", ch.Action)
}

// storeLocked writes r under key with deadline d (unix ns), into e when the
// key has a live entry. Everything that can fail is checked before anything
// changes.
func (s *Store) storeLocked(sh *shard, h uint64, key string, e *entry, r *backends.Record, d int64) error {
	if s.maxValue > 0 && len(r.Data) > s.maxValue {
		return fmt.Errorf("memstore: %d-byte value, limit %d: %w", len(r.Data), s.maxValue, backends.ErrTooLarge)
	}
	lockDate, hasLockDate := int64(0), !r.LockDate.IsZero()
	if hasLockDate {
		lockDate = r.LockDate.UnixNano()
		if !time.Unix(0, lockDate).Equal(r.LockDate) {
			return fmt.Errorf("memstore: lock date %v is outside the years 1678-2262", r.LockDate)
		}
	}
	delta := int64(len(r.Data))
	if e == nil {
		delta += int64(len(key))
	} else {
		delta -= int64(len(e.data))
	}
	if !s.reserve(delta) {
		used := s.bytes.Load()
		if s.fullLogged.CompareAndSwap(false, true) {
			s.log.Warn("memstore: capacity reached, refusing writes that need more room",
				"max_bytes", s.maxBytes, "used_bytes", used, "records", s.count.Load())
		}
		return fmt.Errorf("memstore: %d more bytes with %d of %d in use: %w", delta, used, s.maxBytes, backends.ErrFull)
	}
	if delta > 0 && s.maxBytes > 0 {
		s.fullLogged.Store(false)
	}

	var data []byte
	switch {
	case len(r.Data) == 0:
	case e != nil && sameSlice(r.Data, e.data):
		// A lock acquire or release stores the data it was handed: stored
		// slices are immutable, so sharing is safe and saves a copy.
		data = e.data
	default:
		data = make([]byte, len(r.Data))
		copy(data, r.Data)
	}

	isNew := e == nil
	if isNew {
		// Clone: the caller's string may share a larger buffer, or not be
		// immutable at all.
		k := strings.Clone(key)
		e = &entry{key: k}
		sh.insert(h, e)
		s.count.Add(1)
	}
	e.data = data
	e.timeout = r.Timeout
	e.cookie = r.LockCookie
	e.lockDate = lockDate
	e.flags = 0
	if r.Locked {
		e.flags |= flagLocked
	}
	if r.Uninitialized {
		e.flags |= flagUninitialized
	}
	if hasLockDate {
		e.flags |= flagLockDate
	}
	if isNew {
		e.deadline = d
		sh.link(e, sh.dueFor(d))
	} else {
		s.setDeadlineLocked(sh, e, d)
	}
	return nil
}

// reserve accounts for delta more stored bytes, or reports that the cap does
// not allow it. Shrinking always succeeds.
func (s *Store) reserve(delta int64) bool {
	if delta <= 0 || s.maxBytes == 0 {
		s.bytes.Add(delta)
		return true
	}
	for {
		used := s.bytes.Load()
		if used+delta > s.maxBytes {
			return false
		}
		if s.bytes.CompareAndSwap(used, used+delta) {
			return true
		}
	}
}

// removeLocked deletes e from the map, the wheel and the accounting.
func (s *Store) removeLocked(sh *shard, e *entry) {
	s.remove(sh, s.hash(e.key), e)
	sh.unlink(e)
	s.count.Add(-1)
	s.bytes.Add(-int64(len(e.key) + len(e.data)))
	e.data = nil
}

// hash returns the key's hash, which picks its shard and is its map key there.
func (s *Store) hash(key string) uint64 { return maphash.String(s.seed, key) & s.hashMask }

// find returns the entry for key, whose hash is h, or nil. sh.mu must be held.
func (sh *shard) find(h uint64, key string) *entry {
	e := sh.m[h]
	if e == nil || e.key == key {
		return e
	}
	return sh.collided[key]
}

// insert adds e, whose key has hash h and is not in the shard. sh.mu must be held.
func (sh *shard) insert(h uint64, e *entry) {
	if _, taken := sh.m[h]; !taken {
		sh.m[h] = e
		return
	}
	if sh.collided == nil {
		sh.collided = make(map[string]*entry)
	}
	sh.collided[e.key] = e
}

// remove takes e, whose key has hash h, out of the shard. sh.mu must be held.
// A collided entry with the same hash takes e's place in m, so that a key is
// only ever among the collided while another key holds its hash.
func (s *Store) remove(sh *shard, h uint64, e *entry) {
	if sh.m[h] != e {
		delete(sh.collided, e.key)
		return
	}
	delete(sh.m, h)
	for k, c := range sh.collided {
		if s.hash(k) == h {
			delete(sh.collided, k)
			sh.m[h] = c
			return
		}
	}
}

// setDeadlineLocked moves e's deadline. Later deadlines leave the entry where
// it is filed (O(1), no allocation); the sweeper re-files it when that second
// comes. An earlier one re-files it now, or it would be swept late.
func (s *Store) setDeadlineLocked(sh *shard, e *entry, d int64) {
	e.deadline = d
	if due := sh.dueFor(d); due < e.due {
		sh.unlink(e)
		sh.link(e, due)
	}
}

// fill describes e in r. r.Data is the stored slice itself.
func (e *entry) fill(r *backends.Record) {
	*r = backends.Record{
		Data:          e.data,
		Timeout:       e.timeout,
		Uninitialized: e.flags&flagUninitialized != 0,
		Locked:        e.flags&flagLocked != 0,
		LockCookie:    e.cookie,
	}
	if e.flags&flagLockDate != 0 {
		r.LockDate = time.Unix(0, e.lockDate).UTC()
	}
}

// Close stops the sweeper and drops every record. Apply then returns
// backends.ErrClosed. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.wg.Wait()
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.m, sh.collided = nil, nil
			clear(sh.wheel[:])
			sh.cursor = nil
			sh.mu.Unlock()
		}
		s.count.Store(0)
		s.bytes.Store(0)
	})
	return nil
}

// deadlineAfter returns now plus timeout minutes, saturating instead of
// overflowing for absurd timeouts. A timeout <= 0 gives a deadline of now:
// the record is gone at the next instant.
func deadlineAfter(now int64, timeoutMin int32) int64 {
	if timeoutMin <= 0 {
		return now
	}
	d := int64(timeoutMin) * int64(time.Minute)
	if now > math.MaxInt64-d {
		return math.MaxInt64
	}
	return now + d
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}
