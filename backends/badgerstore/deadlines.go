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
}

// deadlines is the in-memory index of every key on disk.
type deadlines struct {
	seed   maphash.Seed
	shards [deadlineShards]struct {
		mu sync.Mutex // guards m
		m  map[string]entry
	}
}

func newDeadlines() *deadlines {
	d := &deadlines{seed: maphash.MakeSeed()}
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

// put records a write of key (a new generation).
func (d *deadlines) put(key string, dl int64) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	e := s.m[key]
	s.m[key] = entry{d: dl, gen: e.gen + 1}
	s.mu.Unlock()
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
	delete(s.m, key)
	s.mu.Unlock()
}

// removeIf forgets key if nothing wrote it since gen.
func (d *deadlines) removeIf(key string, gen uint64) {
	s := &d.shards[d.shard(key)]
	s.mu.Lock()
	if e, ok := s.m[key]; ok && e.gen == gen {
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
