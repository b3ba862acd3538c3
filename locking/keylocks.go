package locking

import (
	"hash/maphash"
	"sync"
)

// keyLockStripes is the number of mutexes a KeyLocks spreads keys over. Two
// keys may share a stripe; that only costs a little parallelism, never
// correctness, because no caller ever holds two key locks at once.
const keyLockStripes = 1024

// KeyLocks serialises read-modify-write transitions per key for stores that one
// process owns (memory, bbolt, badger). It is a fixed array of striped mutexes:
// no allocation per key and nothing to clean up.
type KeyLocks struct {
	seed    maphash.Seed
	stripes [keyLockStripes]sync.Mutex // each guards the records of the keys hashing to it
}

// NewKeyLocks returns a ready lock table.
func NewKeyLocks() *KeyLocks { return &KeyLocks{seed: maphash.MakeSeed()} }

// Lock locks key's stripe and returns it; the caller unlocks it. (Returning
// the mutex rather than an unlock func keeps Lock free of allocations.)
// Never call Lock while holding another key's lock.
func (l *KeyLocks) Lock(key string) *sync.Mutex {
	m := &l.stripes[maphash.String(l.seed, key)%keyLockStripes]
	m.Lock()
	return m
}
