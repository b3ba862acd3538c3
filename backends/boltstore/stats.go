package boltstore

import (
	"os"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// storeCounts back DurabilityStats and Expired.
type storeCounts struct {
	syncs    atomic.Uint64
	syncNano atomic.Int64
	expired  atomic.Int64
}

var _ backends.DurabilityReporter = (*Store)(nil)

// appendLog appends buf to the live log segment (and waits for its
// fdatasync under sync "always"), counting the wait. Writer goroutine only.
func (s *Store) appendLog(buf []byte) error {
	if !s.syncLog {
		return s.seg.append(buf, false, s.cfg.faults)
	}
	start := time.Now()
	err := s.seg.append(buf, true, s.cfg.faults)
	if err == nil {
		s.stats.syncs.Add(1)
		s.stats.syncNano.Add(int64(time.Since(start)))
	}
	return err
}

// DurabilityStats reports the log appends waited for and the size of the
// write-ahead log on disk (every segment, live and not yet checkpointed).
func (s *Store) DurabilityStats() backends.DurabilityStats {
	st := backends.DurabilityStats{
		Syncs:    s.stats.syncs.Load(),
		SyncTime: time.Duration(s.stats.syncNano.Load()),
	}
	if seqs, err := listSegments(s.cfg.Path); err == nil {
		for _, seq := range seqs {
			if fi, err := os.Stat(segmentPath(s.cfg.Path, seq)); err == nil {
				st.LogBytes += fi.Size()
			}
		}
	}
	return st
}

// Expired returns how many expired records the sweeper has removed.
func (s *Store) Expired() int64 { return s.stats.expired.Load() }
