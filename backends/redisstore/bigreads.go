package redisstore

import (
	"sync"
	"sync/atomic"
)

// Large sessions read on their own (issue 17). The reads of concurrent
// Applies share pipelines, and with Config.Pipelines (default 1) in flight
// the next batch waits for the current one: a client that kept reading a
// 20 MiB session (100 pipelined Gets) put a 20 MiB reply in nearly every
// pipeline, and every other client's 1 KiB read waited behind one (p99 607
// ms). A write knows its size and skips the batcher above directBytes; a
// read learns it from the reply. So the store remembers the keys whose last
// read or write was larger than directBytes, and reads them as a pipeline of
// their own, sent at once on another connection, beside the shared ones. A
// key that reads back small again is forgotten.

// maxBigKeys bounds the keys remembered; when full, the set starts over
// (a forgotten key's next read goes through the batcher once more and is
// remembered again).
const maxBigKeys = 4096

// bigKeys is the set of Redis keys whose last value was large. Safe for
// concurrent use.
type bigKeys struct {
	mu sync.Mutex // guards m
	m  map[string]struct{}
}

// has tells whether key's last value was large.
func (b *bigKeys) has(key string) bool {
	b.mu.Lock()
	_, ok := b.m[key]
	b.mu.Unlock()
	return ok
}

// note records the size of key's value as just read or written.
func (b *bigKeys) note(key string, size int) {
	big := size > directBytes
	b.mu.Lock()
	defer b.mu.Unlock()
	if !big {
		delete(b.m, key)
		return
	}
	if b.m == nil || len(b.m) >= maxBigKeys {
		b.m = make(map[string]struct{})
	}
	b.m[key] = struct{}{}
}

// Large sessions read again unchanged (issue 17). With the reads apart, a
// client that kept reading a 20 MiB session still made Redis copy 20 MiB
// into a reply each time, on its one thread, and every other client waited
// for that: the good client's p99 stayed at 720-830 ms. So the store keeps
// the last value it read of each large key, with its write id (random per
// write, so equal ids mean equal values), and reads such a key with
// changedScript: Redis compares the write id and sends the value only when
// it differs, else just the deadline. Either way the read slides the
// deadline exactly as a full read does. Nothing is answered from the copy
// unless Redis has just confirmed it, so every gateway still sees the
// others' writes at once.

// bigCopyBytes bounds the values bigCopies holds; past it, arbitrary
// entries are dropped (a dropped key's next read is a full read).
const bigCopyBytes = 64 << 20

// changedScript reads KEYS[1] like readScript, for a caller that holds the
// value whose write id is ARGV[3]: with ARGV[1] the gateway's time and
// ARGV[2] the slid deadline (Unix ms), it returns nil for no key, else
// {deadline, value, live, same} where value is "" when same is 1 (the
// caller's copy is the stored value). A live record's deadline is slid; an
// expired one is left as it is.
const changedScript = `
local e = redis.call('PEXPIRETIME', KEYS[1])
if e == -2 then return false end
local same = redis.call('GETRANGE', KEYS[1], 0, 15) == ARGV[3]
if e >= 0 and e < tonumber(ARGV[1]) then
	if same then return {e, '', 0, 1} end
	return {e, redis.call('GET', KEYS[1]), 0, 0}
end
if same then
	redis.call('PEXPIREAT', KEYS[1], ARGV[2])
	return {e, '', 1, 1}
end
return {e, redis.call('GETEX', KEYS[1], 'PXAT', ARGV[2]), 1, 0}
`

// bigCopies holds the last value read of large keys. Safe for concurrent
// use; a stored value is never modified (its Data is shared by readers).
type bigCopies struct {
	mu    sync.Mutex // guards m and bytes
	m     map[string]stored
	bytes int
	held  atomic.Int64 // len(m), read without the lock: most reads find no copies at all
}

func (b *bigCopies) get(rkey string) (stored, bool) {
	if b.held.Load() == 0 {
		return stored{}, false
	}
	b.mu.Lock()
	st, ok := b.m[rkey]
	b.mu.Unlock()
	return st, ok
}

// put keeps st as rkey's value, or forgets rkey when st is not large.
func (b *bigCopies) put(rkey string, st stored) {
	size := len(st.rec.Data)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked(rkey)
	if size <= directBytes || size > bigCopyBytes {
		return
	}
	if b.m == nil {
		b.m = make(map[string]stored)
	}
	for k := range b.m {
		if b.bytes+size <= bigCopyBytes {
			break
		}
		b.dropLocked(k)
	}
	b.m[rkey] = st
	b.bytes += size
	b.held.Store(int64(len(b.m)))
}

// drop forgets rkey's value (this gateway wrote or deleted the key).
func (b *bigCopies) drop(rkey string) {
	b.mu.Lock()
	b.dropLocked(rkey)
	b.mu.Unlock()
}

func (b *bigCopies) dropLocked(rkey string) {
	if old, ok := b.m[rkey]; ok {
		b.bytes -= len(old.rec.Data)
		delete(b.m, rkey)
		b.held.Store(int64(len(b.m)))
	}
}
