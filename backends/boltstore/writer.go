package boltstore

import (
	"fmt"
	"time"
	"unsafe"
)

const (
	// maxWriteBatch bounds the writes one group commit carries.
	maxWriteBatch = 1024
)

// writeOp is one Store or Delete from Apply, or a group of them from a
// batch (InstallBatch, RemoveBatch). The caller holds the keys' locks until
// done is answered.
type writeOp struct {
	key      []byte
	val      []byte // encoded record; nil for a delete
	del      bool
	deadline int64
	timeout  int32
	// group, when set, makes this op a batch: its ops (key, val and the
	// rest above unused) go into the same log append as each other, in
	// order, and done answers for all of them.
	group []writeOp
	done  chan error // buffered; answered exactly once
}

// ops returns the writes op stands for: its group, or itself.
func (op *writeOp) ops() []writeOp {
	if op.group != nil {
		return op.group
	}
	return unsafe.Slice(op, 1)
}

// sweepBatch is a set of keys the sweeper found expired.
type sweepBatch struct {
	keys []string // the index's own key strings
	done chan error
}

// rotation is the checkpointer's request to switch the writer to a new
// segment. The writer answers on done with the retired segment and the keys
// logged in it.
type rotation struct {
	next *segment
	done chan rotated
}

type rotated struct {
	old  *segment
	keys []string
}

// runWriter is the only goroutine that appends to the write-ahead log. It
// batches concurrent writes into one append and one fdatasync (group commit
// with no added delay: a lone write commits at once, and writes that arrive
// during a commit form the next batch), logs sweep deletions between
// batches, and switches segments when the checkpointer asks.
func (s *Store) runWriter() {
	defer s.wg.Done()
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
			s.logBatch(batch)
			clear(batch)

		case b := <-s.sweeps:
			b.done <- s.logSweep(b.keys)

		case r := <-s.rotates:
			old, keys := s.seg, s.segKeys
			s.seg, s.segKeys = r.next, nil
			s.segBytes.Store(0)
			r.done <- rotated{old: old, keys: keys}

		case <-s.stopWriter:
			// Close waited for every Apply and stopped the sweeper and
			// the checkpointer, so nothing else is queued. Close takes
			// over the live segment.
			return
		}
	}
}

// logBatch appends batch to the log in one write and one fdatasync, then
// publishes it in the index (pending records) and answers every op.
func (s *Store) logBatch(batch []*writeOp) {
	buf := s.walBuf[:0]
	for _, b := range batch {
		for i := range b.ops() {
			op := &b.ops()[i]
			if op.del {
				buf = appendDelete(buf, op.key)
			} else {
				buf = appendStore(buf, op.key, op.deadline, op.timeout, op.val)
			}
		}
	}
	err := s.appendLog(buf)
	s.keepBuf(buf)
	if err == nil {
		s.segBytes.Add(int64(len(buf)))
		for _, b := range batch {
			for i := range b.ops() {
				op := &b.ops()[i]
				if op.del {
					s.ix.remove(string(op.key))
					s.segKeys = append(s.segKeys, string(op.key))
				} else {
					s.segKeys = append(s.segKeys, s.ix.set(op.key, op.deadline, op.timeout, &logged{val: op.val}))
				}
			}
		}
		s.kickIfFull()
	}
	for _, op := range batch {
		op.done <- err
	}
}

// logSweep removes keys that are still expired from the index and logs their
// deletion; a checkpoint then removes them from the file.
func (s *Store) logSweep(keys []string) error {
	now := s.now()
	var gone []*entry
	buf := s.walBuf[:0]
	for _, k := range keys {
		// Taking the entry out of the index first makes the record
		// absent to Apply at once; it was expired, so nothing changes
		// for a reader, and a Store that follows queues behind us.
		e := s.ix.removeExpired(k, now)
		if e == nil {
			continue
		}
		gone = append(gone, e)
		buf = appendDelete(buf, []byte(e.key))
	}
	if len(gone) == 0 {
		return nil
	}
	err := s.appendLog(buf)
	s.keepBuf(buf)
	if err != nil {
		for _, e := range gone {
			s.ix.restore(e)
		}
		return fmt.Errorf("sweep %d expired records: %w", len(gone), err)
	}
	s.segBytes.Add(int64(len(buf)))
	s.stats.expired.Add(int64(len(gone)))
	for _, e := range gone {
		s.segKeys = append(s.segKeys, e.key)
	}
	s.kickIfFull()
	return nil
}

// keepBuf keeps the encoding buffer for the next batch unless a large
// value made it big.
func (s *Store) keepBuf(buf []byte) {
	if cap(buf) <= 4<<20 {
		s.walBuf = buf[:0]
	} else {
		s.walBuf = nil
	}
}

// kickIfFull asks for a checkpoint before the next tick when the live
// segment has grown past walSegmentLimit.
func (s *Store) kickIfFull() {
	if s.segBytes.Load() >= walSegmentLimit {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// tickerC returns a ticker's channel, or nil (never ready) for d <= 0.
func tickerC(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(d)
	return t.C, t.Stop
}
