//go:build race

package badgerstore

import "sync"

// raceGate keeps badger's value-log GC from running beside a commit in
// builds with the race detector. badger v4.9.5+ reads the memtable's
// maxVersion (DB.MaxVersion, at the start of each GC rewrite) while its
// writer goroutine sets it without a lock: a race inside badger, harmless
// on the 64-bit platforms we ship (one aligned word), that the detector
// reports whenever GC and a write meet, which would hide races of our own.
// Only race builds pay for the gate; in the others it is empty.
type raceGate struct{ mu sync.RWMutex }

func (g *raceGate) commitStart() { g.mu.RLock() }
func (g *raceGate) commitEnd()   { g.mu.RUnlock() }
func (g *raceGate) gcStart()     { g.mu.Lock() }
func (g *raceGate) gcEnd()       { g.mu.Unlock() }
