package boltstore

import (
	"container/heap"
	"hash/maphash"
	"sync"
	"time"
)

// indexShards spreads the deadline index over this many mutexes, so that reads
// of different keys rarely contend.
const indexShards = 64

// wheelTick is the granularity of the sweeper's schedule: a record is removed
// from disk within about one tick plus one SweepInterval of its deadline.
const wheelTick = int64(time.Second)

// entry is what the index keeps per stored key.
type entry struct {
	key       string // the index's own copy, shared with the map key
	deadline  int64  // Unix ns; the truth for expiry, slid by every Apply that finds the key
	persisted int64  // the deadline as last written to the deadlines bucket
	scheduled int64  // the wheel tick this entry is filed under (see shard.wheel)
	timeout   int32  // Record.Timeout, minutes
	// pending is the record as last logged, until a checkpoint has written
	// it to bbolt (nil then): Apply reads it instead of the file.
	pending *logged
	queued  bool // on shard.dirty
	removed bool // deleted from the index; stale references skip it
}

// shard is one stripe of the index.
type shard struct {
	mu sync.Mutex // guards every field below and the entries in m
	// m maps a key to its entry. Entries are pointers so that a slide mutates
	// in place: assigning m[key] would make the map keep the caller's key
	// string, which may alias a buffer the gateway reuses.
	m map[string]*entry
	// dirty lists the entries slid since the last flush collected them.
	dirty []*entry
	// wheel files each entry under one tick at or before its deadline; ticks
	// is a min-heap of the ticks present. Slides do not touch the wheel: when
	// a tick comes due, entries slid meanwhile are filed again under their
	// new deadline, so each entry costs the sweeper O(1) per timeout, not per
	// sweep.
	wheel map[int64][]*entry
	ticks tickHeap
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
		ix.shards[i].wheel = make(map[int64][]*entry)
	}
	return ix
}

func (ix *index) shard(key string) *shard {
	return &ix.shards[maphash.String(ix.seed, key)%indexShards]
}

// tickOf is the first wheel tick at or after deadline.
func tickOf(deadline int64) int64 {
	t := deadline / wheelTick
	if deadline%wheelTick != 0 && deadline > 0 {
		t++
	}
	return t
}

// schedule files e under the tick of its deadline. Caller holds sh.mu.
func (sh *shard) schedule(e *entry) { sh.scheduleAt(e, tickOf(e.deadline)) }

// scheduleAt files e under tick t; an earlier filing becomes stale.
func (sh *shard) scheduleAt(e *entry, t int64) {
	e.scheduled = t
	list, ok := sh.wheel[t]
	if !ok {
		heap.Push(&sh.ticks, t)
	}
	sh.wheel[t] = append(list, e)
}

// markDirty queues e for the next flush. Caller holds sh.mu.
func (sh *shard) markDirty(e *entry) {
	if !e.queued {
		e.queued = true
		sh.dirty = append(sh.dirty, e)
	}
}

// logged is an encoded record that is in the write-ahead log but maybe not
// yet in bbolt. Immutable; its identity tells a checkpoint whether a newer
// write replaced it meanwhile.
type logged struct{ val []byte }

// touch reports whether key is live at now and, if so, slides its deadline
// and returns its pending (logged, not yet checkpointed) record, if any. The
// check and the slide are one step under the shard lock, so the sweeper
// never removes a record that a concurrent Apply has just found live.
func (ix *index) touch(key string, now int64) (live, exists bool, pending *logged) {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return false, false, nil
	}
	if now >= e.deadline {
		return false, true, nil
	}
	if d := deadlineAt(now, e.timeout); d > e.deadline {
		e.deadline = d
		sh.markDirty(e)
	}
	return true, true, e.pending
}

// set records a logged write: the key now has deadline and the pending
// record p. It returns the index's own copy of the key.
func (ix *index) set(key []byte, deadline int64, timeout int32, p *logged) string {
	sh := ix.shard(string(key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[string(key)]
	if !ok {
		e = &entry{key: string(key)}
		sh.m[e.key] = e
	}
	e.deadline, e.persisted, e.timeout, e.pending = deadline, deadline, timeout, p
	// A later deadline is found when the old tick comes due; an earlier one
	// (a shorter timeout) needs an earlier tick.
	if !ok || tickOf(deadline) < e.scheduled {
		sh.schedule(e)
	}
	return e.key
}

// keyState is what a checkpoint writes for one key: the pending record with
// the key's current deadline, or, when the key has no entry, a deletion.
type keyState struct {
	key      string
	e        *entry  // nil: absent, delete it from bbolt
	p        *logged // the pending record written
	deadline int64
	timeout  int32
}

// state returns key's state for a checkpoint; ok is false when bbolt already
// holds the key's latest record (nothing to write).
func (ix *index) state(key string) (st keyState, ok bool) {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, found := sh.m[key]
	if !found {
		return keyState{key: key}, true
	}
	if e.pending == nil {
		return keyState{}, false
	}
	return keyState{key: e.key, e: e, p: e.pending, deadline: e.deadline, timeout: e.timeout}, true
}

// checkpointed records that st reached bbolt: the pending record is dropped
// unless a newer write replaced it, and st.deadline is persisted.
func (ix *index) checkpointed(st *keyState) {
	if st.e == nil {
		return
	}
	sh := ix.shard(st.key)
	sh.mu.Lock()
	if st.e.pending == st.p {
		st.e.pending = nil
	}
	if !st.e.removed && st.e.persisted < st.deadline {
		st.e.persisted = st.deadline
	}
	sh.mu.Unlock()
}

// load adds an entry at Open, before any other goroutine runs; e.key is
// already owned.
func (ix *index) load(e *entry) {
	sh := ix.shard(e.key)
	sh.m[e.key] = e
	sh.schedule(e)
	if e.deadline != e.persisted {
		sh.markDirty(e)
	}
}

// remove records a committed delete.
func (ix *index) remove(key string) {
	sh := ix.shard(key)
	sh.mu.Lock()
	if e, ok := sh.m[key]; ok {
		e.removed = true
		delete(sh.m, key)
	}
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
	e.removed = true
	delete(sh.m, key)
	return e
}

// restore puts back an entry that removeExpired took out of the index when the
// transaction deleting it from disk failed, unless a write replaced it since.
func (ix *index) restore(e *entry) {
	sh := ix.shard(e.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[e.key]; !ok {
		e.removed = false
		sh.m[e.key] = e
		sh.schedule(e)
	}
}

// dirtyItem is a deadline to persist.
type dirtyItem struct {
	e        *entry
	deadline int64
	timeout  int32
}

// collectDirty appends every entry whose deadline moved since it was last
// persisted to buf.
func (ix *index) collectDirty(buf []dirtyItem) []dirtyItem {
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		for _, e := range sh.dirty {
			e.queued = false
			if !e.removed && e.deadline != e.persisted {
				buf = append(buf, dirtyItem{e: e, deadline: e.deadline, timeout: e.timeout})
			}
		}
		clear(sh.dirty)
		if cap(sh.dirty) > 4096 {
			sh.dirty = nil // let a burst's backing array go
		} else {
			sh.dirty = sh.dirty[:0]
		}
		sh.mu.Unlock()
	}
	return buf
}

// markPersisted records that it.deadline reached the disk.
func (ix *index) markPersisted(it dirtyItem) {
	sh := ix.shard(it.e.key)
	sh.mu.Lock()
	if it.e.persisted < it.deadline {
		it.e.persisted = it.deadline
	}
	sh.mu.Unlock()
}

// requeue puts an entry back on its shard's dirty list after a failed flush.
func (ix *index) requeue(it dirtyItem) {
	sh := ix.shard(it.e.key)
	sh.mu.Lock()
	if !it.e.removed {
		sh.markDirty(it.e)
	}
	sh.mu.Unlock()
}

// collectExpired appends up to limit keys expired at now to buf, taking them
// from the wheel ticks that have come due (a tick is due once any deadline
// filed under it may have passed). Entries slid since they were filed go
// under their new deadline; collected ones stay in the index until the
// writer removes them (removeExpired) and are filed one tick later in case
// that fails, so none is ever forgotten.
func (ix *index) collectExpired(now int64, limit int, buf []string) []string {
	due := tickOf(now)
	var refile, retry []*entry
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		refile, retry = refile[:0], retry[:0]
		for len(sh.ticks) > 0 && sh.ticks[0] <= due && len(buf) < limit {
			t := heap.Pop(&sh.ticks).(int64)
			list := sh.wheel[t]
			delete(sh.wheel, t)
			for _, e := range list {
				switch {
				case e.removed || e.scheduled != t:
					// deleted, or filed again elsewhere
				case now < e.deadline:
					refile = append(refile, e)
				case len(buf) < limit:
					buf = append(buf, e.key)
					retry = append(retry, e)
				default:
					refile = append(refile, e) // over the limit: next sweep
				}
			}
		}
		// Filed after the loop: an entry refiled under a tick that is
		// already due must wait for the next sweep, not spin in this one.
		for _, e := range refile {
			sh.schedule(e)
		}
		for _, e := range retry {
			sh.scheduleAt(e, due+1)
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

// tickHeap is a min-heap of wheel ticks (container/heap).
type tickHeap []int64

func (h tickHeap) Len() int           { return len(h) }
func (h tickHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h tickHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tickHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *tickHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
