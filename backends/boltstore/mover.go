package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/aspstate/aspstate/backends"
)

var _ backends.BatchMover = (*Store)(nil)

// Walk implements backends.Mover. It snapshots the index's keys (a string
// header each: 16 MB for a million sessions, for the walk's length), sorts
// them, and reads them a page at a time, one bbolt read transaction per
// page, copying the live records into a page buffer; fn runs with no
// transaction open and no Apply registered, so Close and the checkpointer
// are not held up between pages.
//
// Key order is what makes it fast: the trimmer keeps dropping bbolt's memory
// map from RSS (see trimMap), so a read of a page not touched lately is a
// page fault, and in key order neighbouring records share leaf pages (and
// the kernel maps neighbouring file pages with each fault). In the index's
// hash order, with a transaction per key, a million records took 145 s
// beside traffic; see BENCHMARKS.md, "Operators' API".
//
// No key lock is taken: each record is read as the index and bbolt show it
// at one moment (a pending record from the index, else bbolt's copy), and
// bbolt's copy is taken from the page's transaction only while no commit
// has ended since the transaction began (s.commits): the index drops a
// pending record only after the checkpoint that wrote it has committed, so
// a transaction older than that commit could miss it. After a commit the
// page goes on in a fresh transaction. Holding no key lock inside a read
// transaction is also what keeps this free of deadlock: a commit that must
// grow the memory map waits for open read transactions.
func (s *Store) Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error {
	var keys []string
	for i := range s.ix.shards {
		keys = s.ix.shardKeys(i, keys)
	}
	slices.Sort(keys)
	var page backends.WalkPage
	for pos := 0; pos < len(keys); {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("boltstore: walk: %w", err)
		}
		if err := s.enter(); err != nil {
			return err
		}
		var err error
		pos, err = s.readPage(keys, pos, &page)
		s.inflight.Done()
		if err != nil {
			return fmt.Errorf("boltstore: walk: read a record in %s: %w", s.cfg.Path, err)
		}
		if err := page.Emit(fn); err != nil {
			return err
		}
	}
	return nil
}

// walkTxBegun, when set (by a test), runs after readPage begins a
// transaction.
var walkTxBegun func()

// readPage adds the live records of keys[pos:] to page until it is full and
// returns the position after the last key read. See Walk.
func (s *Store) readPage(keys []string, pos int, page *backends.WalkPage) (next int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked (corrupt file?): %v", r)
		}
	}()
	var (
		tx   *bolt.Tx
		sess *bolt.Bucket
		seen uint64 // s.commits when tx began
	)
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	now := s.now()
	for ; pos < len(keys) && !page.Full(); pos++ {
		k := keys[pos]
		live, _, deadline, pending := s.ix.peek(k, now)
		if !live {
			continue
		}
		val := []byte(nil)
		if pending != nil {
			val = pending.val
		} else {
			if tx == nil || s.commits.Load() != seen {
				if tx != nil {
					_ = tx.Rollback()
				}
				seen = s.commits.Load() // before Begin: see Walk
				if tx, err = s.db.Begin(false); err != nil {
					tx = nil
					return pos, err
				}
				sess = tx.Bucket(bucketSessions)
				if walkTxBegun != nil {
					walkTxBegun()
				}
				// The key may have been checkpointed and dropped from
				// pending while the transaction was replaced: look again.
				if live, _, deadline, pending = s.ix.peek(k, now); !live {
					continue
				}
			}
			if pending != nil {
				val = pending.val
			} else if val = sess.Get([]byte(k)); val == nil {
				continue // deleted and checkpointed since the index was read
			}
		}
		rec, err := decodeRecord(val)
		if err != nil {
			return pos, err
		}
		page.Add(k, &rec, time.Unix(0, deadline).UTC())
	}
	return pos, nil
}

// Peek implements backends.Mover.
func (s *Store) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	if err := s.enter(); err != nil {
		return backends.Record{}, time.Time{}, err
	}
	defer s.inflight.Done()
	if err := ctx.Err(); err != nil {
		return backends.Record{}, time.Time{}, err
	}
	if len(key) == 0 || len(key) > bolt.MaxKeySize {
		return backends.Record{}, time.Time{}, backends.ErrNotFound // such a key cannot be stored
	}
	mu := s.locks.Lock(key)
	defer mu.Unlock()
	var (
		out backends.Record
		dl  int64
	)
	found, err := s.readLive(key, s.now(), func(rec *backends.Record, d int64) {
		out, dl = *rec, d
		out.Data = bytes.Clone(rec.Data)
		if out.Data == nil {
			out.Data = []byte{}
		}
	})
	if err != nil {
		return backends.Record{}, time.Time{}, fmt.Errorf("boltstore: peek in %s: %w", s.cfg.Path, err) // no key: errors reach logs at error level
	}
	if !found {
		return backends.Record{}, time.Time{}, backends.ErrNotFound
	}
	return out, time.Unix(0, dl).UTC(), nil
}

// Install implements backends.Mover. Under the key lock, it logs the record
// with the given deadline through the writer exactly as an Apply's Store
// (same group commit, same fdatasync policy, same checkpoint and replay), so
// an acknowledged Install survives a crash like an acknowledged Apply, and
// its deadline is in the log and, after a clean Close, in the file. (After a
// crash, replay raises logged deadlines to the lease plus the timeout: see
// doc.go, Expiry.)
func (s *Store) Install(ctx context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.inflight.Done()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(key) == 0 || len(key) > bolt.MaxKeySize {
		return false, fmt.Errorf("boltstore: key of %d bytes: must be 1..%d bytes", len(key), bolt.MaxKeySize)
	}
	if len(rec.Data) > s.cfg.MaxValueSize {
		return false, fmt.Errorf("boltstore: %d-byte value (limit %d): %w",
			len(rec.Data), s.cfg.MaxValueSize, backends.ErrTooLarge)
	}
	mu := s.locks.Lock(key)
	defer mu.Unlock()
	now := s.now()
	if !expires.After(time.Unix(0, now)) {
		return false, nil // already past: nothing to keep
	}
	d := int64(math.MaxInt64)
	if expires.Before(time.Unix(0, math.MaxInt64)) {
		d = expires.UnixNano()
	}
	if !replace {
		if live, _, _, _ := s.ix.peek(key, now); live {
			return false, nil
		}
	}
	if err := s.write(&writeOp{key: []byte(key), val: encodeRecord(&rec), deadline: d, timeout: rec.Timeout}); err != nil {
		return false, err
	}
	return true, nil
}

// InstallBatch implements backends.BatchMover: Install for every record,
// under all their key locks at once, in one write op for the writer, so the
// whole batch is one log append and one fdatasync (shared, by group commit,
// with whatever else the writer is committing), published in the index
// before the locks are released.
//
// Locks: the batch's key stripes are taken together by KeyLocks.LockAll, in
// ascending stripe order. Apply, Peek, Walk and Install hold one stripe at a
// time and, while holding it, wait only for the writer (and the
// checkpointer, for a lease flush), which take no key locks; LockAll's
// callers wait for the same, so no cycle can form (see LockAll). Holding the
// locks until the writer has answered is what makes each record atomic with
// respect to Apply: an Apply on one of the keys waits, then reads the
// installed record.
func (s *Store) InstallBatch(ctx context.Context, batch []backends.Install) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	keys := make([]string, 0, len(batch))
	for i := range batch {
		in := &batch[i]
		in.Stored, in.Err = false, nil
		switch {
		case len(in.Key) == 0 || len(in.Key) > bolt.MaxKeySize:
			in.Err = fmt.Errorf("boltstore: key of %d bytes: must be 1..%d bytes", len(in.Key), bolt.MaxKeySize)
		case len(in.Record.Data) > s.cfg.MaxValueSize:
			in.Err = fmt.Errorf("boltstore: %d-byte value (limit %d): %w",
				len(in.Record.Data), s.cfg.MaxValueSize, backends.ErrTooLarge)
		default:
			keys = append(keys, in.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	stripes := s.locks.LockAll(keys, nil)
	defer s.locks.UnlockAll(stripes)
	now := s.now()
	group := make([]writeOp, 0, len(keys))
	which := make([]int, 0, len(keys)) // batch index of each op in group
	earlier := map[string]bool{}       // keys stored earlier in this batch
	for i := range batch {
		in := &batch[i]
		if in.Err != nil || !in.Expires.After(time.Unix(0, now)) {
			continue // refused, or already past: nothing to keep
		}
		if !in.Replace {
			if earlier[in.Key] {
				continue
			}
			if live, _, _, _ := s.ix.peek(in.Key, now); live {
				continue
			}
		}
		d := int64(math.MaxInt64)
		if in.Expires.Before(time.Unix(0, math.MaxInt64)) {
			d = in.Expires.UnixNano()
		}
		group = append(group, writeOp{key: []byte(in.Key), val: encodeRecord(&in.Record), deadline: d, timeout: in.Record.Timeout})
		which = append(which, i)
		earlier[in.Key] = true
	}
	if len(group) == 0 {
		return nil
	}
	if err := s.write(&writeOp{group: group}); err != nil {
		return err
	}
	for _, i := range which {
		batch[i].Stored = true
	}
	return nil
}

// RemoveBatch implements backends.BatchMover: the deletes of every key that
// has a record (live or expired), under all their key locks (taken as in
// InstallBatch), in one write op: one log append and one fdatasync.
func (s *Store) RemoveBatch(ctx context.Context, keys []string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	stripes := s.locks.LockAll(keys, nil)
	defer s.locks.UnlockAll(stripes)
	group := make([]writeOp, 0, len(keys))
	for _, k := range keys {
		if _, exists, _, _ := s.ix.peek(k, 0); exists {
			group = append(group, writeOp{key: []byte(k), del: true})
		}
	}
	if len(group) == 0 {
		return nil
	}
	return s.write(&writeOp{group: group})
}

// readLive calls use with key's live record and deadline, reading it as
// Apply does but without sliding; it reports whether it found one. The
// caller holds key's lock; the record is valid only while use runs.
func (s *Store) readLive(key string, now int64, use func(rec *backends.Record, deadline int64)) (bool, error) {
	live, _, deadline, pending := s.ix.peek(key, now)
	if !live {
		return false, nil
	}
	if pending != nil {
		rec, err := decodeRecord(pending.val)
		if err != nil {
			return false, err
		}
		use(&rec, deadline)
		return true, nil
	}
	found := false
	err := s.read(unsafe.Slice(unsafe.StringData(key), len(key)), func(cur *backends.Record) {
		if cur != nil {
			found = true
			use(cur, deadline)
		}
	})
	return found, err
}

// peek is touch without the slide: whether key is live at now, its deadline
// and its pending record.
func (ix *index) peek(key string, now int64) (live, exists bool, deadline int64, pending *logged) {
	sh := ix.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return false, false, 0, nil
	}
	if now >= e.deadline {
		return false, true, 0, nil
	}
	return true, true, e.deadline, e.pending
}

// shardKeys appends the keys of index shard i to buf.
func (ix *index) shardKeys(i int, buf []string) []string {
	sh := &ix.shards[i]
	sh.mu.Lock()
	for k := range sh.m {
		buf = append(buf, k)
	}
	sh.mu.Unlock()
	return buf
}
