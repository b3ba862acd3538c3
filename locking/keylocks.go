package locking

import (
	"hash/maphash"
	"slices"
	"sync"
)

// keyLockStripes is the number of mutexes a KeyLocks spreads keys over. Two
// keys may share a stripe; that only costs a little parallelism, never
// correctness: Lock never holds two stripes, and LockAll takes each stripe
// once, in ascending order.
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
	m := &l.stripes[l.stripe(key)]
	m.Lock()
	return m
}

func (l *KeyLocks) stripe(key string) int {
	return int(maphash.String(l.seed, key) % keyLockStripes)
}

// LockAll locks the stripes of every key in keys (each stripe once, however
// many keys share it) and returns them for UnlockAll; buf is reused for the
// result. It is for batches (a hand-off installs or deletes a few hundred
// records under one durable write).
//
// Why it cannot deadlock: a caller of Lock holds one stripe and never waits
// for another while holding it; LockAll takes its stripes in ascending index
// order, so a LockAll caller only ever waits for a stripe higher than every
// stripe it holds. A cycle of waiters would need someone to wait for a lower
// stripe than one it holds, and nobody does. This holds only if, like Lock's
// callers, a LockAll caller waits while holding its stripes for nothing that
// itself waits for a key lock (a store's writer goroutine, say, takes none).
// Never call Lock or LockAll while holding stripes from LockAll.
func (l *KeyLocks) LockAll(keys []string, buf []int) []int {
	buf = buf[:0]
	for _, k := range keys {
		buf = append(buf, l.stripe(k))
	}
	slices.Sort(buf)
	buf = slices.Compact(buf)
	for _, i := range buf {
		l.stripes[i].Lock()
	}
	return buf
}

// UnlockAll unlocks the stripes LockAll returned.
func (l *KeyLocks) UnlockAll(stripes []int) {
	for _, i := range stripes {
		l.stripes[i].Unlock()
	}
}
