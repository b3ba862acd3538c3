package badgerstore

import (
	"errors"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Value-log garbage collection (issue 17: one client rewriting a 20 MiB
// session grew the value log by 70 MB/s, 4.2 GB in a minute, with no end).
//
// Badger's RunValueLogGC rewrites a value-log file only once its discard
// statistics say enough of it is garbage, and those are counted only when a
// compaction drops the older versions of a key, which needs the memtable to
// be flushed to a table first. A memtable fills with the keys and value
// pointers of the writes, about 100 bytes each, so a client that rewrites
// one large session never fills it: nothing is ever counted as garbage and
// GC, whenever it runs, finds nothing to do.
//
// So the collector watches the bytes written to the value log since the
// memtable was last flushed (the committer counts them, and estimates the
// memtable's fill to tell when badger flushed it by itself). Once gcGrowth
// value-log files have been written while the memtable is still under a
// quarter full (so badger would not flush it soon: large values), it flushes
// the memtable: badger's only way is DropPrefix of a marker key written for
// the purpose, run between two commit groups so that no write of Apply meets
// badger's blocked writes; DropPrefix also compacts level 0, which counts
// the garbage. Then, for the next gcChase polls, it runs GC until GC finds
// nothing worth rewriting. Otherwise GC runs every GCInterval, as before.
// Sessions of a few KiB or less fill the memtable first and never force a
// flush. What a forced flush costs: reads and writes wait while badger
// writes the memtable to a table and compacts level 0 into the next level
// (milliseconds for the small tree of a few large writers; more for a large
// tree under many large writes).
const (
	gcRatio  = 0.5         // rewrite a value-log file once half of it is garbage
	gcPoll   = time.Second // how often the collector looks at the value log's growth
	gcChase  = 10          // polls that run GC after a forced flush
	gcGrowth = 2           // value-log files written between forced flushes
)

// flushMarker is written just before each forced flush and dropped by it.
var flushMarker = []byte{metaPrefix, 'f', 'l', 'u', 's', 'h'}

// collectGarbage is the value-log collector's goroutine. Owned by the Store
// (s.wg).
func (s *Store) collectGarbage() {
	defer s.wg.Done()
	t := time.NewTicker(gcPoll)
	defer t.Stop()
	last := time.Now() // the last GC run
	chase := 0
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if s.wr.vlogBytes.Load() >= gcGrowth*s.cfg.ValueLogFileSize && s.wr.memBytes.Load() < s.wr.memTableSize/4 {
			if err := s.flushMemtable(); err != nil {
				s.cfg.Logger.Warn("badgerstore: flushing the memtable for value-log GC", "path", s.path, "err", err)
			} else {
				s.gcFlushes.Add(1)
				chase = gcChase
			}
		}
		if chase == 0 && time.Since(last) < s.cfg.GCInterval {
			continue
		}
		if chase > 0 {
			chase--
		}
		last = time.Now()
		if n := s.runGC(); n > 0 && chase > 0 {
			chase = gcChase // still reclaiming: keep at it
		}
	}
}

// flushMemtable makes badger write its memtable to a table, so that the
// next compaction counts the garbage its writes left in the value log.
func (s *Store) flushMemtable() error {
	return s.wr.exclusive(func() error {
		s.wr.flushed()
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(flushMarker, nil) }); err != nil {
			return err
		}
		return s.db.DropPrefix(flushMarker)
	})
}

// runGC runs badger's value-log GC until it finds nothing worth rewriting
// and returns how many files it rewrote.
func (s *Store) runGC() int {
	n := 0
	for {
		s.wr.gate.gcStart()
		err := s.db.RunValueLogGC(gcRatio)
		s.wr.gate.gcEnd()
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.cfg.Logger.Warn("badgerstore: value-log GC", "path", s.path, "err", err)
			}
			s.gcRewrites.Add(int64(n))
			return n
		}
		n++
		select {
		case <-s.stop:
			s.gcRewrites.Add(int64(n))
			return n
		default:
		}
	}
}
