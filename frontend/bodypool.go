package frontend

import (
	"math/bits"
	"sync"
)

// Large bodies copied out of a store whose bytes do not outlive Apply
// (bbolt's memory map) go into buffers reused from a pool, sent with the
// vectored write, and returned once written (issue 17). Appending each one to
// the connection's output buffer allocated 20 MiB per Get of a 20 MiB
// session: a client that pipelined such Gets made the collector run after
// nearly every one, and its workers and assists took the CPU other clients'
// requests needed (their p99 67-90 ms, 16-18 ms with GOGC=400).

// minPooledBody is the smallest body copied into a pooled buffer: below it
// the copy into out is cheap and the garbage small.
const minPooledBody = 64 << 10

// bodyPools holds buffers by size class: pool i has capacity 1<<i.
var bodyPools [bits.UintSize]sync.Pool

// pooledCopy returns a copy of b in a buffer from the pools.
func pooledCopy(b []byte) []byte {
	class := bits.Len(uint(len(b) - 1))
	var buf []byte
	if p, ok := bodyPools[class].Get().(*[]byte); ok {
		buf = (*p)[:len(b)]
	} else {
		buf = make([]byte, len(b), 1<<class)
	}
	copy(buf, b)
	return buf
}

// releaseBody returns a buffer from pooledCopy to its pool; the caller
// keeps no reference to it.
func releaseBody(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return // not one of ours
	}
	b = b[:0]
	bodyPools[bits.Len(uint(c-1))].Put(&b)
}
