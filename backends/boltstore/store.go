package boltstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// leaseIntervals is the lease length in flush intervals. A read whose slide
// happens after the durable lease waits for a flush; a longer lease makes
// that rarer and loosens the deadlines recovered after a crash by as much.
const leaseIntervals = 12

// Store is a backends.Backend that keeps records in one bbolt file.
type Store struct {
	cfg   Config
	db    *bolt.DB
	ix    *index
	locks *locking.KeyLocks
	log   *slog.Logger

	// lease is the durable lease (Unix ns): a slide at or after it must be
	// flushed before Apply returns. Written by the writer only.
	lease atomic.Int64

	writes  chan *writeOp    // Apply -> writer: Store and Delete
	flushes chan chan error  // Apply -> checkpointer: flush now (lease ran out)
	sweeps  chan *sweepBatch // sweeper -> writer
	rotates chan rotation    // checkpointer -> writer: switch segments
	kick    chan struct{}    // writer -> checkpointer: the live segment is full

	// syncLog: fdatasync log appends and directory changes (sync "always").
	syncLog bool

	stats storeCounts // stats.go

	// commits counts bbolt write transactions committed since Open, for
	// Walk's page transactions.
	commits atomic.Uint64

	// Owned by the writer goroutine (then by Close):
	seg      *segment     // the live log segment
	segKeys  []string     // keys logged in seg
	walBuf   []byte       // encoding buffer for one batch
	segBytes atomic.Int64 // bytes logged in seg; read by the checkpointer

	// ckptMu is held by the checkpointer for each checkpoint or flush (and
	// by tests that copy a consistent crash image). It guards the fields
	// below, which the checkpointer goroutine owns (then Close).
	ckptMu        sync.Mutex
	retired       []*segment  // segments switched away from, oldest first, not yet deleted
	retiredKeys   []string    // keys logged in them
	nextSeq       uint64      // sequence number of the next segment
	liveSeq       uint64      // sequence number of the writer's segment
	writerStopped bool        // set by Close: no more rotations
	dirtyBuf      []dirtyItem // reused by flush
	stateBuf      []keyState  // reused by checkpoint

	stopSweeper chan struct{}  // closed by Close to stop the sweeper
	stopCkpt    chan struct{}  // closed by Close, after the sweeper stopped
	stopWriter  chan struct{}  // closed by Close, after the checkpointer stopped
	swg         sync.WaitGroup // the sweeper and the trimmer
	cwg         sync.WaitGroup // the checkpointer
	wg          sync.WaitGroup // the writer

	mu       sync.Mutex     // guards closed and the Add side of inflight
	closed   bool           // set by Close; Apply then returns ErrClosed
	inflight sync.WaitGroup // Apply calls in progress; Close waits for them

	closeOnce sync.Once
	closeErr  error // result of Close; written once inside closeOnce
}

var (
	_ backends.Backend      = (*Store)(nil)
	_ backends.BorrowedKeys = (*Store)(nil)
)

// BorrowedKeys implements backends.BorrowedKeys: Apply looks keys up without
// keeping them, writes carry a copy, and the index keeps its own.
func (s *Store) BorrowedKeys() bool { return true }

// Apply runs fn on key's current record and applies its change. See
// backends.Backend and the package documentation.
func (s *Store) Apply(ctx context.Context, key string, fn backends.Transition) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(key) == 0 || len(key) > bolt.MaxKeySize {
		return fmt.Errorf("boltstore: key of %d bytes: must be 1..%d bytes", len(key), bolt.MaxKeySize)
	}

	mu := s.locks.Lock(key)
	defer mu.Unlock()

	now := s.now()
	live, exists, pending := s.ix.touch(key, now)

	var (
		change backends.Change
		val    []byte // encoded record, for Store
		// bkey is for lookups only: bbolt does not keep it, and writes
		// hand the writer a copy (see BorrowedKeys).
		bkey = unsafe.Slice(unsafe.StringData(key), len(key))
	)
	decide := func(cur *backends.Record) {
		change = fn(cur)
		if change.Action == backends.Store && len(change.Record.Data) <= s.cfg.MaxValueSize {
			// Encode now: Record.Data may alias cur.Data, which points
			// into the memory map and is valid only inside the view.
			val = encodeRecord(&change.Record)
		}
	}
	if !live {
		decide(nil)
	} else if pending != nil {
		// Logged but not yet checkpointed: the log's copy is the truth.
		rec, err := decodeRecord(pending.val)
		if err != nil {
			return fmt.Errorf("boltstore: read from %s: %w", s.cfg.Path, err)
		}
		decide(&rec)
	} else if err := s.read(bkey, decide); err != nil {
		return fmt.Errorf("boltstore: read from %s: %w", s.cfg.Path, err)
	}

	var err error
	switch change.Action {
	case backends.Store:
		if val == nil {
			err = fmt.Errorf("boltstore: %d-byte value (limit %d): %w",
				len(change.Record.Data), s.cfg.MaxValueSize, backends.ErrTooLarge)
			break
		}
		t := change.Record.Timeout
		err = s.write(&writeOp{key: []byte(key), val: val, deadline: deadlineAt(now, t), timeout: t})
	case backends.Delete:
		if exists {
			err = s.write(&writeOp{key: []byte(key), del: true})
		}
	}
	// The slide above stands unless a write replaced the deadline; past the
	// lease it must be durable before we answer.
	if live && (change.Action == backends.Keep || err != nil) && now >= s.lease.Load() {
		s.renewLease(ctx)
	}
	return err
}

// read runs decide on key's record (nil if the file lacks it) inside a read
// transaction. A bbolt panic (a corrupt page) becomes an error; a panic in
// the transition is not bbolt's and propagates.
func (s *Store) read(key []byte, decide func(*backends.Record)) (err error) {
	inTransition := false
	defer func() {
		if r := recover(); r != nil {
			if inTransition {
				panic(r)
			}
			err = fmt.Errorf("bbolt panicked (corrupt file?): %v", r)
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		var cur *backends.Record
		if v := tx.Bucket(bucketSessions).Get(key); v != nil {
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			cur = &rec
		}
		inTransition = true
		decide(cur)
		inTransition = false
		return nil
	})
}

// enter registers an Apply unless the store is closed.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return backends.ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

// write hands op to the writer and waits for it to commit. It waits even if
// ctx is cancelled: the key lock must be held until the write has landed or
// failed, or the next Apply on the key could read the old record.
func (s *Store) write(op *writeOp) error {
	if s.cfg.dbBatch {
		return s.writeBatch(op)
	}
	op.done = make(chan error, 1)
	s.writes <- op
	if err := <-op.done; err != nil {
		return fmt.Errorf("boltstore: write to %s: %w", s.cfg.Path, err)
	}
	return nil
}

// renewLease asks the writer to flush deadlines now, because this read slid a
// deadline after the durable lease. A failure is logged, not returned: the
// answer is right, only the slide's durability is at stake, and writes report
// a broken disk themselves.
func (s *Store) renewLease(ctx context.Context) {
	done := make(chan error, 1)
	select {
	case s.flushes <- done:
	case <-ctx.Done():
		return
	}
	select {
	case err := <-done:
		if err != nil {
			s.log.Warn("boltstore: deadline flush failed; a crash now could expire recently read sessions early",
				"path", s.cfg.Path, "err", err)
		}
	case <-ctx.Done():
	}
}

// Len returns the number of live (unexpired) sessions. It scans the index:
// meant for tests, tools and occasional metrics.
func (s *Store) Len() int {
	return s.ix.countLive(s.now())
}

// Close waits for Apply calls in progress, stops the sweeper, writes every
// slid deadline and marks the file as cleanly closed, then closes it. Later
// Apply calls return backends.ErrClosed. Close is idempotent; concurrent calls
// all wait for the first.
func (s *Store) Close() error {
	s.closeOnce.Do(s.close)
	return s.closeErr
}

func (s *Store) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()

	s.inflight.Wait()
	close(s.stopSweeper)
	s.swg.Wait()
	close(s.stopCkpt)
	s.cwg.Wait()
	close(s.stopWriter)
	s.wg.Wait()

	s.ckptMu.Lock()
	finalErr := s.shutdown()
	s.ckptMu.Unlock()
	err := s.db.Close()
	switch {
	case finalErr != nil:
		s.closeErr = fmt.Errorf("boltstore: close %s: %w", s.cfg.Path, finalErr)
	case err != nil && !errors.Is(err, bolt.ErrDatabaseNotOpen):
		s.closeErr = fmt.Errorf("boltstore: close %s: %w", s.cfg.Path, err)
	}
}

// now is the store's clock in Unix ns.
func (s *Store) now() int64 { return s.cfg.Now().UnixNano() }

// writeBatch is write when Config.dbBatch is set: op is committed by bbolt's
// DB.Batch (concurrent writes share one transaction and its fsyncs, unless
// Sync is "none"), then published in the index with no pending record, so
// reads find it in bbolt. The log then carries only the sweeper's deletions.
func (s *Store) writeBatch(op *writeOp) error {
	// bbolt keeps the slices given to Put until the commit: one deadline
	// buffer per op.
	dlBuf := make([]byte, deadlineLen*len(op.ops()))
	err := s.db.Batch(func(tx *bolt.Tx) error {
		sess, dl := tx.Bucket(bucketSessions), tx.Bucket(bucketDeadlines)
		for i := range op.ops() {
			op := &op.ops()[i]
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
			if err := dl.Put(op.key, encodeDeadline(dlBuf[i*deadlineLen:(i+1)*deadlineLen], op.deadline, op.timeout)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: write to %s: %w", s.cfg.Path, err)
	}
	s.commits.Add(1) // see Walk
	for i := range op.ops() {
		op := &op.ops()[i]
		if op.del {
			s.ix.remove(string(op.key))
		} else {
			s.ix.set(op.key, op.deadline, op.timeout, nil)
		}
	}
	return nil
}
