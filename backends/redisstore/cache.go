package redisstore

import (
	"sync"
	"time"

	"github.com/aspstate/aspstate/backends"
)

const (
	// writeCacheBytes bounds the session data the write cache holds.
	writeCacheBytes = 16 << 20
	// writeCacheAge: an entry older than this is not used. A web request's
	// GetExclusive and its Set come well within it; an old entry is more
	// likely to be stale, and a stale entry costs a failed CAS.
	writeCacheAge = 5 * time.Second
	// writeCacheMaxRecord: larger records are not cached.
	writeCacheMaxRecord = directBytes
)

// writeCache remembers the record this gateway last wrote under a key, with
// its write id, so that the next change to that key can skip the read: the
// transition runs on the remembered record and the CAS expects its write id.
// If the CAS applies, nobody wrote the key in between, so the transition saw
// exactly the stored record (a slide by another gateway changes only the
// deadline, and the CAS also checks that the record is still live). If it
// does not, Apply reads and starts over. A transition that keeps the record
// proves nothing (no CAS ran), so Apply then reads too. The cache never
// answers a request on its own.
//
// An entry is taken out when used, so concurrent Applies on a key never share
// one; each successful write puts the new record back.
type writeCache struct {
	mu    sync.Mutex // guards m and bytes
	m     map[string]cacheEntry
	bytes int
}

type cacheEntry struct {
	rec     backends.Record // owned by the cache: Data is a private copy
	wid     string
	version int64     // the record's write count
	at      time.Time // when it was written (monotonic clock)
}

// take removes and returns the entry for rkey, if there is a fresh one.
func (c *writeCache) take(rkey string) (cacheEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[rkey]
	if ok {
		delete(c.m, rkey)
		c.bytes -= entrySize(rkey, &e.rec)
	}
	c.mu.Unlock()
	if !ok || time.Since(e.at) > writeCacheAge {
		return cacheEntry{}, false
	}
	return e, true
}

// put remembers rec, just written under rkey with write id wid. It copies
// rec.Data.
func (c *writeCache) put(rkey string, rec *backends.Record, wid string, version int64) {
	if len(rec.Data) > writeCacheMaxRecord {
		return
	}
	e := cacheEntry{rec: *rec, wid: wid, version: version, at: time.Now()}
	e.rec.Data = append([]byte{}, rec.Data...)
	if !e.rec.LockDate.IsZero() {
		// As it reads back: nanoseconds, UTC, no monotonic reading.
		e.rec.LockDate = time.Unix(0, e.rec.LockDate.UnixNano()).UTC()
	}
	size := entrySize(rkey, &e.rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cacheEntry)
	}
	if old, ok := c.m[rkey]; ok {
		c.bytes -= entrySize(rkey, &old.rec)
	}
	// Over the bound: drop arbitrary entries (map order). They are only a
	// shortcut; a dropped one costs one read.
	for k, old := range c.m {
		if c.bytes+size <= writeCacheBytes {
			break
		}
		delete(c.m, k)
		c.bytes -= entrySize(k, &old.rec)
	}
	c.m[rkey] = e
	c.bytes += size
}

// forget drops the entry for rkey.
func (c *writeCache) forget(rkey string) {
	c.mu.Lock()
	if e, ok := c.m[rkey]; ok {
		delete(c.m, rkey)
		c.bytes -= entrySize(rkey, &e.rec)
	}
	c.mu.Unlock()
}

// entrySize approximates an entry's memory: the data, the key and overhead.
func entrySize(rkey string, rec *backends.Record) int { return len(rec.Data) + len(rkey) + 128 }
