package boltstore

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
)

// indexShards spreads the deadline index over this many mutexes, so that reads
// of different keys rarely contend.
const indexShards = 64

// entry is what the index keeps per stored key.
type entry struct {
	deadline  int64 // Unix ns; the truth for expiry, slid by every Apply that finds the key
	persisted int64 // the deadline as last written to the deadlines bucket
	timeout   int32 // Record.Timeout, minutes
}

// shard is one stripe of the index.
type shard struct {
	mu sync.Mutex // guards m, dirty and minDeadline
	// m maps a key to its entry. Entries are pointers so that a slide mutates
	// in place: assigning m[key] would make the map keep the caller's key
	// string, which may alias a buffer the gateway reuses.
	m map[string]*entry
	// dirty counts slides since the flusher last scanned this shard; 0 lets
	// it skip the shard.
	dirty int
	// minDeadline is a lower bound of the deadlines in m (slides only raise
	// deadlines); the sweeper skips the shard while now is below it.
	minDeadline int64
}

// index is the in-memory deadline index, loaded at Open. Every key stored in
// the file has an entry, live or expired.
type index struct {
	seed   maphash.Seed
	shards [indexShards]shard
}

func newIndex() *index {
	ix := &index{seed: maphash.MakeSeed()}
	for i := range ix.shards {
		ix.shards[i].m = make(map[string]*entry)
		ix.shards[i].minDeadline = math.MaxInt64
	}
	return ix
}

func (ix *index) shard(key string) *shard {
	return &ix.shards[maphash.String(ix.seed, key)%indexShards]
}

// touch reports whether key is live at now and, if so, slides its deadline.
// The check and the slide are one step under the shard lock, so the sweeper
// never removes a record that a concurrent Apply has just found live.
func (ix *index) touch(key string, now int64) (live, exists bool) {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return false, false
	}
	if now >= e.deadline {
		return false, true
	}
	if d := deadlineAt(now, e.timeout); d > e.deadline {
		e.deadline = d
		sh.dirty++
	}
	return true, true
}

// set records a committed write: the key now has deadline, persisted.
func (ix *index) set(key string, deadline int64, timeout int32) {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok {
		*e = entry{deadline: deadline, persisted: deadline, timeout: timeout}
	} else {
		sh.m[strings.Clone(key)] = &entry{deadline: deadline, persisted: deadline, timeout: timeout}
	}
	sh.minDeadline = min(sh.minDeadline, deadline)
}

// load adds an entry at Open; key is already owned.
func (ix *index) load(key string, e *entry) {
	sh := ix.shard(key)
	sh.m[key] = e
	sh.minDeadline = min(sh.minDeadline, e.deadline)
	if e.deadline != e.persisted {
		sh.dirty++
	}
}

// remove records a committed delete.
func (ix *index) remove(key string) {
	sh := ix.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

// removeExpired removes key if it is still expired at now and returns its
// entry (for undo), or nil.
func (ix *index) removeExpired(key string, now int64) *entry {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok || now < e.deadline {
		return nil
	}
	delete(sh.m, key)
	return e
}

// restore puts back an entry that removeExpired took out of the index when the
// transaction deleting it from disk failed, unless a write replaced it since.
func (ix *index) restore(key string, e *entry) {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[key]; !ok {
		sh.m[key] = e
		sh.minDeadline = min(sh.minDeadline, e.deadline)
	}
}

// dirtyItem is a deadline to persist.
type dirtyItem struct {
	key      string // the index's own copy
	deadline int64
	timeout  int32
}

// collectDirty returns every entry whose deadline differs from the persisted
// one, appended to buf.
func (ix *index) collectDirty(buf []dirtyItem) []dirtyItem {
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		if sh.dirty > 0 {
			for k, e := range sh.m {
				if e.deadline != e.persisted {
					buf = append(buf, dirtyItem{key: k, deadline: e.deadline, timeout: e.timeout})
				}
			}
			sh.dirty = 0
		}
		sh.mu.Unlock()
	}
	return buf
}

// markPersisted records that it.deadline reached the disk.
func (ix *index) markPersisted(it dirtyItem) {
	sh := ix.shard(it.key)
	sh.mu.Lock()
	if e, ok := sh.m[it.key]; ok && e.persisted < it.deadline && e.timeout == it.timeout {
		e.persisted = it.deadline
	}
	sh.mu.Unlock()
}

// markDirty makes the flusher look at key's shard again (after a failed flush).
func (ix *index) markDirty(key string) {
	sh := ix.shard(key)
	sh.mu.Lock()
	sh.dirty++
	sh.mu.Unlock()
}

// collectExpired appends up to limit keys expired at now to buf. It scans
// only shards whose lower bound on deadlines has passed and tightens that
// bound as it goes.
func (ix *index) collectExpired(now int64, limit int, buf []string) []string {
	for i := range ix.shards {
		if len(buf) >= limit {
			break
		}
		sh := &ix.shards[i]
		sh.mu.Lock()
		if now >= sh.minDeadline {
			lowest := int64(math.MaxInt64)
			complete := true
			for k, e := range sh.m {
				if now >= e.deadline {
					if len(buf) >= limit {
						complete = false
						break
					}
					buf = append(buf, k)
					continue
				}
				lowest = min(lowest, e.deadline)
			}
			if complete {
				// Keys collected above are about to be removed; if that
				// fails, restore lowers the bound again.
				sh.minDeadline = lowest
			}
		}
		sh.mu.Unlock()
	}
	return buf
}

// len returns the number of entries, live or expired.
func (ix *index) len() int {
	n := 0
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// countLive returns the number of entries live at now.
func (ix *index) countLive(now int64) int {
	n := 0
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if now < e.deadline {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}
