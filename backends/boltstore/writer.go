package boltstore

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// maxWriteBatch bounds the writes one group-commit transaction carries.
	maxWriteBatch = 1024
	// flushChunk bounds the deadlines one flush transaction carries, so that
	// the flush after a crash recovery (every session dirty) stays a series
	// of modest transactions rather than one huge one.
	flushChunk = 20000
)

// writeOp is one Store or Delete from Apply. The caller holds the key lock
// until done is answered.
type writeOp struct {
	key      []byte
	val      []byte // encoded record; nil for a delete
	del      bool
	deadline int64
	timeout  int32
	done     chan error // buffered; answered exactly once
}

// sweepBatch is a set of keys the sweeper found expired.
type sweepBatch struct {
	keys []string // the index's own key strings
	done chan error
}

// runWriter is the only goroutine that opens bbolt write transactions. It
// batches concurrent writes into one transaction and one fsync (group commit
// with no added delay: a lone write commits at once, and writes that arrive
// during a commit form the next batch), and runs deadline flushes and sweep
// deletions between batches, so none of them races with another.
func (s *Store) runWriter() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	batch := make([]*writeOp, 0, maxWriteBatch)
	for {
		select {
		case op := <-s.writes:
			batch = append(batch[:0], op)
		drain:
			for len(batch) < maxWriteBatch {
				select {
				case op := <-s.writes:
					batch = append(batch, op)
				default:
					break drain
				}
			}
			s.commit(batch)
			clear(batch)

		case <-tick.C:
			if err := s.flush(false); err != nil {
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
			err := s.flush(true)
			for _, d := range waiting {
				d <- err
			}

		case b := <-s.sweeps:
			b.done <- s.sweep(b.keys)

		case <-s.stopWriter:
			// Close waited for every Apply and stopped the sweeper, so
			// nothing else is queued.
			s.finalErr = s.shutdown()
			return
		}
	}
}

// commit writes batch in one transaction and answers every op.
func (s *Store) commit(batch []*writeOp) {
	err := s.update(func(tx *bolt.Tx) error {
		sess, dl := tx.Bucket(bucketSessions), tx.Bucket(bucketDeadlines)
		// bbolt keeps references to values until commit: one slab per batch.
		slab := make([]byte, deadlineLen*len(batch))
		for i, op := range batch {
			if op.del {
				if err := sess.Delete(op.key); err != nil {
					return err
				}
				if err := dl.Delete(op.key); err != nil {
					return err
				}
				continue
			}
			if err := sess.Put(op.key, op.val); err != nil {
				return err
			}
			if err := dl.Put(op.key, encodeDeadline(slab[i*deadlineLen:], op.deadline, op.timeout)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, op := range batch {
		if err == nil {
			if op.del {
				s.ix.remove(string(op.key))
			} else {
				s.ix.set(string(op.key), op.deadline, op.timeout)
			}
		}
		op.done <- err
	}
}

// flush writes every slid deadline and renews the lease. Without force it
// does nothing when no deadline moved (an idle store writes nothing).
func (s *Store) flush(force bool) error {
	snapshot := s.now()
	s.dirtyBuf = s.ix.collectDirty(s.dirtyBuf[:0])
	items := s.dirtyBuf
	if len(items) == 0 && !force {
		return nil
	}
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

// sweep removes keys that are still expired from the index and the file.
func (s *Store) sweep(keys []string) error {
	now := s.now()
	var gone []*entry
	err := s.update(func(tx *bolt.Tx) error {
		sess, dl := tx.Bucket(bucketSessions), tx.Bucket(bucketDeadlines)
		for _, k := range keys {
			// Taking the entry out of the index first makes the record
			// absent to Apply at once; it was expired, so nothing changes
			// for a reader, and a Store that follows queues behind us.
			e := s.ix.removeExpired(k, now)
			if e == nil {
				continue
			}
			gone = append(gone, e)
			if err := sess.Delete([]byte(k)); err != nil {
				return err
			}
			if err := dl.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, e := range gone {
			s.ix.restore(e)
		}
		return fmt.Errorf("sweep %d expired records: %w", len(keys), err)
	}
	return nil
}

// shutdown persists every slid deadline and marks the file clean, so that
// the next Open restores the exact deadlines.
func (s *Store) shutdown() error {
	if err := s.flush(false); err != nil {
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
	return s.db.Update(fn)
}
