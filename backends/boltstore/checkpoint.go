package boltstore

import (
	"fmt"
	"github.com/aspstate/aspstate/backends/internal/mapped"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// checkpointInterval is how often the checkpointer moves logged
	// records into bbolt. Longer means fewer, larger bbolt transactions
	// (a key written many times is written once) and more memory held in
	// pending records.
	checkpointInterval = 500 * time.Millisecond
	// walSegmentLimit asks for a checkpoint before the next tick once the
	// live segment holds this many bytes.
	walSegmentLimit = 64 << 20
	// checkpointChunk bounds the keys one bbolt transaction writes: with
	// many sessions each key dirties its own page, and bbolt allocates a
	// page-sized buffer per dirty page until the commit.
	checkpointChunk = 5000
	// mapBudget is how much of bbolt's memory map may stay resident (in
	// RSS) before the trimmer drops it; checked every trimInterval.
	mapBudget    = 128 << 20
	trimInterval = 250 * time.Millisecond
	// flushChunk bounds the deadlines one flush transaction carries, so that
	// the flush after a crash recovery (every session dirty) stays a series
	// of modest transactions rather than one huge one.
	flushChunk = 20000
)

// runCheckpointer is the only goroutine that writes to bbolt while the store
// is open (Open and Close write before and after it runs). It checkpoints
// the log every checkpointInterval, or sooner when the writer says the live
// segment is full, flushes slid deadlines every FlushInterval and on demand
// (lease renewal), and owns the retired segments until a checkpoint has
// made them redundant.
func (s *Store) runCheckpointer() {
	defer s.cwg.Done()
	ckpt := time.NewTicker(checkpointInterval)
	defer ckpt.Stop()
	flush := time.NewTicker(s.cfg.FlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-ckpt.C:
			s.checkpointLogged()
		case <-s.kick:
			s.checkpointLogged()
		case <-flush.C:
			s.ckptMu.Lock()
			err := s.flush(false)
			s.ckptMu.Unlock()
			if err != nil {
				s.log.Error("boltstore: deadline flush failed", "path", s.cfg.Path, "err", err)
			}
		case done := <-s.flushes:
			waiting := []chan error{done}
		more:
			for {
				select {
				case d := <-s.flushes:
					waiting = append(waiting, d)
				default:
					break more
				}
			}
			s.ckptMu.Lock()
			err := s.flush(true)
			s.ckptMu.Unlock()
			for _, d := range waiting {
				d <- err
			}
		case <-s.stopCkpt:
			return
		}
	}
}

// checkpointLogged retires the live segment if it holds anything and
// checkpoints every retired segment. Failures are logged and retried on the
// next tick; the records stay in the log and in memory meanwhile.
func (s *Store) checkpointLogged() {
	if err := s.checkpointNow(); err != nil {
		s.log.Error("boltstore: checkpoint failed; records stay in the log and in memory", "path", s.cfg.Path, "err", err)
	}
}

// checkpointNow is checkpointLogged returning its error.
func (s *Store) checkpointNow() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	return s.catchUp()
}

// rotate creates the next segment and has the writer switch to it. Caller
// holds ckptMu.
func (s *Store) rotate() error {
	next, err := createSegment(s.cfg.Path, s.nextSeq, s.syncLog, s.cfg.faults)
	if err != nil {
		return err
	}
	s.nextSeq++
	s.liveSeq = next.seq
	r := rotation{next: next, done: make(chan rotated, 1)}
	s.rotates <- r
	got := <-r.done
	s.retired = append(s.retired, got.old)
	s.retiredKeys = append(s.retiredKeys, got.keys...)
	return nil
}

// checkpoint writes the current state of every key logged in the retired
// segments to bbolt, then deletes those segments, oldest first. Caller holds
// ckptMu.
//
// It writes each key's current state (its pending record with its current
// deadline, or a deletion when the index no longer has it), which may come
// from a write logged after the retired segments: bbolt may run ahead of
// the log, never behind it, and replaying the segments that survive a crash
// converges because every record is a whole-record put or a delete.
func (s *Store) checkpoint() error {
	slices.Sort(s.retiredKeys) // bbolt writes sorted keys into neighbouring pages
	s.retiredKeys = slices.Compact(s.retiredKeys)
	keys := s.retiredKeys
	for start := 0; start < len(keys); start += checkpointChunk {
		chunk := keys[start:min(start+checkpointChunk, len(keys))]
		states := s.stateBuf[:0]
		for _, k := range chunk {
			if st, ok := s.ix.state(k); ok {
				states = append(states, st)
			}
		}
		s.stateBuf = states
		if len(states) == 0 {
			continue
		}
		err := s.update(func(tx *bolt.Tx) error {
			sess, dl := tx.Bucket(bucketSessions), tx.Bucket(bucketDeadlines)
			slab := make([]byte, deadlineLen*len(states))
			for i := range states {
				st := &states[i]
				k := []byte(st.key)
				if st.e == nil {
					if err := sess.Delete(k); err != nil {
						return err
					}
					if err := dl.Delete(k); err != nil {
						return err
					}
					continue
				}
				if err := sess.Put(k, st.p.val); err != nil {
					return err
				}
				if err := dl.Put(k, encodeDeadline(slab[i*deadlineLen:], st.deadline, st.timeout)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			clear(states)
			return fmt.Errorf("checkpoint %d records: %w", len(keys)-start, err)
		}
		for i := range states {
			s.ix.checkpointed(&states[i])
		}
		clear(states)
	}
	clear(s.retiredKeys)
	s.retiredKeys = s.retiredKeys[:0]
	if cap(s.retiredKeys) > 1<<16 {
		s.retiredKeys = nil
	}
	for len(s.retired) > 0 {
		seg := s.retired[0]
		_ = seg.f.Close()
		if err := removeSegment(seg.path, s.syncLog); err != nil {
			// Replaying it again is harmless; stop here so that the
			// segments left stay the newest ones.
			return fmt.Errorf("remove checkpointed log %s: %w", seg.path, err)
		}
		s.retired[0] = nil
		s.retired = s.retired[1:]
	}
	s.retired = nil
	return nil
}

// flush writes every slid deadline and renews the lease. Without force it
// does nothing when no deadline moved (an idle store writes nothing).
// Caller holds ckptMu (or is Close, after the checkpointer stopped).
//
// It first checkpoints everything logged, and records in the file which
// segments that covered: so every write logged before the flush's snapshot
// time is in bbolt with its deadline as of the flush, and replay can treat
// the records logged after it as written after the snapshot (see doc.go).
func (s *Store) flush(force bool) error {
	snapshot := s.now()
	s.dirtyBuf = s.ix.collectDirty(s.dirtyBuf[:0])
	items := s.dirtyBuf
	if len(items) == 0 && !force {
		return nil
	}
	if err := s.catchUp(); err != nil {
		for _, it := range items {
			s.ix.requeue(it)
		}
		clear(s.dirtyBuf)
		return fmt.Errorf("checkpoint before a deadline flush: %w", err)
	}
	covered := s.liveSeq - 1 // every segment before the live one is in bbolt
	lease := snapshot + leaseIntervals*int64(s.cfg.FlushInterval)
	for start := 0; ; start += flushChunk {
		chunk := items[start:min(start+flushChunk, len(items))]
		last := start+len(chunk) == len(items)
		err := s.update(func(tx *bolt.Tx) error {
			dl := tx.Bucket(bucketDeadlines)
			slab := make([]byte, deadlineLen*len(chunk))
			for i, it := range chunk {
				k := []byte(it.e.key)
				if dl.Get(k) == nil {
					continue // never resurrect a deadline for a deleted record
				}
				if err := dl.Put(k, encodeDeadline(slab[i*deadlineLen:], it.deadline, it.timeout)); err != nil {
					return err
				}
			}
			if !last {
				return nil
			}
			meta := tx.Bucket(bucketMeta)
			if err := meta.Put(metaFlushed, putInt64(snapshot)); err != nil {
				return err
			}
			if err := meta.Put(metaCovered, putInt64(int64(covered))); err != nil {
				return err
			}
			return meta.Put(metaLease, putInt64(lease))
		})
		if err != nil {
			for _, it := range items[start:] {
				s.ix.requeue(it)
			}
			clear(s.dirtyBuf)
			return fmt.Errorf("flush %d deadlines: %w", len(items)-start, err)
		}
		for _, it := range chunk {
			s.ix.markPersisted(it)
		}
		if last {
			break
		}
	}
	clear(s.dirtyBuf) // drop the entry references
	s.lease.Store(lease)
	return nil
}

// runTrimmer checks the memory map's resident size every trimInterval, in
// its own goroutine so that a long checkpoint does not delay it.
func (s *Store) runTrimmer() {
	defer s.swg.Done()
	tick := time.NewTicker(trimInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopSweeper:
			return
		case <-tick.C:
			s.trimMap()
		}
	}
}

// trimMap drops bbolt's memory map from RSS once its resident part exceeds
// mapBudget (see dropMapped). The pages stay in the page cache.
func (s *Store) trimMap() {
	if n, ok := mapped.Resident(); ok && n > mapBudget {
		if err := dropMapped(s.db); err != nil {
			s.log.Warn("boltstore: cannot drop mapped pages", "path", s.cfg.Path, "err", err)
		}
	}
}

// catchUp retires the live segment if it holds anything (unless the writer
// stopped) and checkpoints every retired segment. Caller holds ckptMu.
func (s *Store) catchUp() error {
	if !s.writerStopped && s.segBytes.Load() > 0 {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("start a new log segment: %w", err)
		}
	}
	if len(s.retired) == 0 {
		return nil
	}
	if err := s.checkpoint(); err != nil {
		return fmt.Errorf("%d log segments: %w", len(s.retired), err)
	}
	return nil
}

// shutdown runs after the writer and checkpointer stopped: it checkpoints
// everything logged, persists every slid deadline and marks the file clean,
// so that the next Open restores the exact deadlines and finds no log.
func (s *Store) shutdown() error {
	s.writerStopped = true
	if s.seg != nil {
		s.retired = append(s.retired, s.seg)
		s.retiredKeys = append(s.retiredKeys, s.segKeys...)
		s.seg, s.segKeys = nil, nil
		s.liveSeq = s.nextSeq // none is live
	}
	if err := s.flush(true); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaClean, []byte{1})
	})
}

// update runs a write transaction and turns a bbolt panic (a corrupt page
// found while writing) into an error; bbolt rolls the transaction back.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked (corrupt file?): %v", r)
		}
	}()
	if err := s.db.Update(fn); err != nil {
		return err
	}
	s.commits.Add(1) // before the index drops pending records: see Walk
	return nil
}
