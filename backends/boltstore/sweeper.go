package boltstore

import "time"

const (
	// maxSweepScan bounds the expired keys one sweep collects; the rest wait
	// for the next tick.
	maxSweepScan = 100_000
	// sweepBatchSize bounds the deletions per transaction, so that writes
	// queued behind a sweep wait for one modest transaction at most.
	sweepBatchSize = 1000
)

// runSweeper removes expired records from the file every SweepInterval. It
// only finds candidates; the writer re-checks each one under its shard lock
// and deletes it.
func (s *Store) runSweeper() {
	defer s.swg.Done()
	tick := time.NewTicker(s.cfg.SweepInterval)
	defer tick.Stop()
	var buf []string
	for {
		select {
		case <-s.stopSweeper:
			return
		case <-tick.C:
			buf = s.sweepOnce(buf[:0])
			clear(buf)
		}
	}
}

func (s *Store) sweepOnce(buf []string) []string {
	buf = s.ix.collectExpired(s.now(), maxSweepScan, buf)
	for start := 0; start < len(buf); start += sweepBatchSize {
		b := &sweepBatch{keys: buf[start:min(start+sweepBatchSize, len(buf))], done: make(chan error, 1)}
		select {
		case s.sweeps <- b:
		case <-s.stopSweeper:
			return buf
		}
		if err := <-b.done; err != nil {
			s.log.Error("boltstore: sweep failed", "path", s.cfg.Path, "err", err)
			return buf
		}
	}
	return buf
}
