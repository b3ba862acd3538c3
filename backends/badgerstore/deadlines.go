package badgerstore

import (
	"hash/maphash"
	"sync"
)

// deadlineShards spreads the deadline index over this many maps so that the
// index mutex is not one global point of contention.
const deadlineShards = 64

// entry is what the store keeps in memory per live key. Times are nanoseconds
// since Store.epoch on the store's clock.
type entry struct {
	// d is the deadline the memory backend would have: now + Timeout at the
	// last Apply that found or stored the record. Slid on every read, never
	// written to disk by a read.
	// After a crash d starts as badger's TTL, an upper bound; the record's
	// own horizon corrects it on first access (see doc.go, Expiry).
	d int64
	// gen changes on every Apply that writes the key, so that background work
	// that read the entry earlier can tell it is stale.
	gen uint64
	// c is the record as on disk when it is in the record cache, else nil.
	c *cached
}

// cached is a record in the record cache: its encoded bytes exactly as on
// disk (header, horizon and Data). val is never modified once cached: a new
// version replaces the whole struct or its val, never the bytes.
type cached struct {
	val []byte
	ref bool // read since the evictor last passed it (CLOCK's second chance)
}

// deadlines is the in-memory index of every key on disk, and the record
// cache: each shard keeps the encoded records of recently used keys up to
// budget bytes, evicting in CLOCK order (oldest first, a record read since the
// last pass gets a second chance). Every change of a key's record on disk
// goes through Apply or the maintenance goroutine under the key's lock, and
// each of them updates or drops the cached copy under that lock, so a cached
// record is the one on disk, or (after a background horizon rewrite that it
// has not seen) an older version with an earlier horizon, which is
// conservative: see doc.go, Record cache.
type deadlines struct {
	seed   maphash.Seed
	budget int // cache bytes per shard; 0 disables the cache
	shards [deadlineShards]shard
}

type shard struct {
	mu sync.Mutex // guards everything below
	m  map[string]entry
	// q holds the keys whose entry has a cached record, oldest first. A key
	// whose record was dropped may linger (skipped when reached); compact
	// bounds that.
	q     []string
	bytes int // sum of len(c.val) over m
	n     int // entries with c != nil
}

func newDeadlines(cacheBytes int64) *deadlines {
	d := &deadlines{seed: maphash.MakeSeed(), budget: int(max(cacheBytes, 0) / deadlineShards)}
	for i := range d.shards {
		d.shards[i].m = make(map[string]entry)
	}
	return d
}

func (d *deadlines) shard(key string) int { return int(maphash.String(d.seed, key) % deadlineShards) }

func (d *deadlines) get(key string) (entry, bool) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	e, ok := s.m[key]
	s.mu.Unlock()
	return e, ok
}

// put records a write of key (a new generation) whose encoded record, as now
// on disk, is val; val is cached (if the cache is on) and must not be
// modified afterwards.
func (d *deadlines) put(key string, dl int64, val []byte) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	e := s.m[key]
	e.d, e.gen = dl, e.gen+1
	s.m[key] = s.setCache(key, e, val, d.budget)
	s.mu.Unlock()
}

// lookup returns key's entry and its cached record (nil if not cached).
func (d *deadlines) lookup(key string) (entry, []byte, bool) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	e, ok := s.m[key]
	var val []byte
	if e.c != nil {
		e.c.ref = true
		val = e.c.val
	}
	s.mu.Unlock()
	return e, val, ok
}

// slideCache records a read like slide and caches val, the record read from
// disk (nil: nothing to cache), unless it is cached already.
func (d *deadlines) slideCache(key string, dl int64, val []byte) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	e := s.m[key]
	e.d = dl
	if val != nil && e.c == nil {
		e = s.setCache(key, e, val, d.budget)
	}
	s.m[key] = e
	s.mu.Unlock()
}

// uncache drops key's cached record, before a background rewrite of it.
func (d *deadlines) uncache(key string) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	if e, ok := s.m[key]; ok && e.c != nil {
		s.m[key] = s.drop(e)
	}
	s.mu.Unlock()
}

// setCache returns e with val as its cached record (dropping it for nil or
// when the cache is off or val alone exceeds the budget), then evicts down
// to budget. s.mu must be held; the caller stores the result in s.m.
func (s *shard) setCache(key string, e entry, val []byte, budget int) entry {
	if val == nil || len(val) > budget {
		return s.drop(e)
	}
	if e.c != nil {
		s.bytes += len(val) - len(e.c.val)
		e.c.val, e.c.ref = val, true
	} else {
		e.c = &cached{val: val}
		s.bytes += len(val)
		s.n++
		s.q = append(s.q, key)
		if len(s.q) > 2*s.n+1024 {
			s.compact()
		}
	}
	s.m[key] = e // the evictor must see it
	for s.bytes > budget && len(s.q) > 0 {
		k := s.q[0]
		s.q = s.q[1:]
		o, ok := s.m[k]
		if !ok || o.c == nil {
			continue
		}
		if o.c.ref {
			o.c.ref = false
			s.q = append(s.q, k)
			continue
		}
		s.m[k] = s.drop(o)
	}
	return s.m[key]
}

// drop returns e without its cached record. s.mu must be held.
func (s *shard) drop(e entry) entry {
	if e.c != nil {
		s.bytes -= len(e.c.val)
		s.n--
		e.c = nil
	}
	return e
}

// compact removes from q the keys that are no longer cached, and duplicates.
func (s *shard) compact() {
	seen := make(map[string]struct{}, s.n)
	q := make([]string, 0, s.n+s.n/2)
	for _, k := range s.q {
		if _, dup := seen[k]; dup {
			continue
		}
		if e, ok := s.m[k]; ok && e.c != nil {
			seen[k] = struct{}{}
			q = append(q, k)
		}
	}
	s.q = q
}

// slide records a read: a new deadline, same generation.
func (d *deadlines) slide(key string, dl int64) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	e := s.m[key]
	e.d = dl
	s.m[key] = e
	s.mu.Unlock()
}

// lower moves key's deadline down to dl if it is later; used when an exact
// deadline is learnt after Open.
func (d *deadlines) lower(key string, dl int64) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	if e, ok := s.m[key]; ok && dl < e.d {
		e.d = dl
		s.m[key] = e
	}
	s.mu.Unlock()
}

// remove forgets key.
func (d *deadlines) remove(key string) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	if e, ok := s.m[key]; ok {
		s.drop(e)
		delete(s.m, key)
	}
	s.mu.Unlock()
}

// removeIf forgets key if nothing wrote it since gen.
func (d *deadlines) removeIf(key string, gen uint64) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	if e, ok := s.m[key]; ok && e.gen == gen {
		s.drop(e)
		delete(s.m, key)
	}
	s.mu.Unlock()
}

// expired returns up to limit keys whose deadline is before now.
func (d *deadlines) expired(now int64, limit int) []string {
	var out []string
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.d < now {
				out = append(out, k)
				if len(out) >= limit {
					s.mu.Unlock()
					return out
				}
			}
		}
		s.mu.Unlock()
	}
	return out
}

func (d *deadlines) len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
