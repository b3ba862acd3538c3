package redisstore

import "sync"

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
