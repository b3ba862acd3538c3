package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/aspstate/aspstate/backends"
)

var _ backends.BatchMover = (*Store)(nil)

// Walk implements backends.Mover. Deadline-index shard by shard (the index
// has every key on disk), it snapshots the shard's keys, then reads them a
// page at a time, each under its key lock as Apply reads it (record cache or
// badger), copying the live ones into a page buffer. fn runs with no lock
// held, not even the store's shared lifetime lock, so Close is not held up
// between pages.
func (s *Store) Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error {
	var (
		keys []string
		page backends.WalkPage
	)
	for i := range s.dl.shards {
		sh := &s.dl.shards[i]
		keys = keys[:0]
		sh.mu.Lock()
		for k := range sh.m {
			keys = append(keys, k)
		}
		sh.mu.Unlock()
		for pos := 0; pos < len(keys); {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("badgerstore: walk: %w", err)
			}
			var err error
			s.life.RLock()
			if s.closed {
				s.life.RUnlock()
				return backends.ErrClosed
			}
			nowRel := s.rel(s.cfg.Now())
			for ; pos < len(keys) && !page.Full(); pos++ {
				k := keys[pos]
				mu := s.locks.Lock(k)
				_, err = s.readLive(k, nowRel, func(rec *backends.Record, d int64) {
					page.Add(k, rec, s.abs(d))
				})
				mu.Unlock()
				if err != nil {
					err = fmt.Errorf("badgerstore: %s: walk: read a record: %w", s.path, err)
					break
				}
			}
			s.life.RUnlock()
			if err != nil {
				return err
			}
			if err := page.Emit(fn); err != nil {
				return err
			}
		}
		clear(keys)
	}
	return nil
}

// Peek implements backends.Mover.
func (s *Store) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return backends.Record{}, time.Time{}, err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return backends.Record{}, time.Time{}, backends.ErrClosed
	}
	mu := s.locks.Lock(key)
	defer mu.Unlock()
	var (
		out backends.Record
		dl  int64
	)
	found, err := s.readLive(key, s.rel(s.cfg.Now()), func(rec *backends.Record, d int64) {
		out, dl = *rec, d
		out.Data = bytes.Clone(rec.Data)
		if out.Data == nil {
			out.Data = []byte{}
		}
	})
	if err != nil {
		return backends.Record{}, time.Time{}, fmt.Errorf("badgerstore: %s: peek: %w", s.path, err)
	}
	if !found {
		return backends.Record{}, time.Time{}, backends.ErrNotFound
	}
	return out, s.abs(dl), nil
}

// Install implements backends.Mover. Under the key lock, it writes the
// record through the group committer exactly as an Apply's Store (same sync
// policy), with a horizon of the given deadline plus slack, and puts the
// exact deadline in the index: a clean Close keeps it in the deadline
// snapshot, and after a crash the horizon bounds it as for any record.
func (s *Store) Install(ctx context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return false, backends.ErrClosed
	}
	if len(rec.Data) > s.cfg.MaxValueSize {
		return false, backends.ErrTooLarge
	}
	mu := s.locks.Lock(key)
	defer mu.Unlock()
	now := s.cfg.Now()
	nowRel := s.rel(now)
	if !expires.After(now) {
		return false, nil // already past: nothing to keep
	}
	t := ttlOf(&rec)
	d := min(s.rel(expires), math.MaxInt64-int64(slack(t)))
	if !replace {
		live, err := s.readLive(key, nowRel, func(*backends.Record, int64) {})
		if err != nil {
			return false, fmt.Errorf("badgerstore: %s: install: read: %w", s.path, err)
		}
		if live {
			return false, nil
		}
	}
	hsec := s.horizonSec(d + int64(slack(t)))
	val := encodeRecord(&rec, hsec)
	if err := s.write(recordKey(key), val, hsec, now); err != nil {
		s.dl.uncache(key) // the write may or may not have landed
		return false, fmt.Errorf("badgerstore: %s: install: write: %w", s.path, err)
	}
	s.dl.put(key, d, val)
	return true, nil
}

// InstallBatch implements backends.BatchMover: Install for every record,
// under all their key locks at once, written through the group committer as
// one group (one transaction, one commit and, with sync "always", one sync,
// unless badger's transaction size limit splits it), with the index updated
// before the locks are released.
//
// Locks: the batch's key stripes are taken together by KeyLocks.LockAll, in
// ascending stripe order. Apply, Peek, Walk, Install and the maintenance
// passes hold one stripe at a time and, while holding it, wait only for
// badger and the committer, which take no key locks; LockAll's callers wait
// for the same, so no cycle can form (see LockAll). Holding the locks until
// the commit has answered is what makes each record atomic with respect to
// Apply.
func (s *Store) InstallBatch(ctx context.Context, batch []backends.Install) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return backends.ErrClosed
	}
	keys := make([]string, 0, len(batch))
	for i := range batch {
		in := &batch[i]
		in.Stored, in.Err = false, nil
		if len(in.Record.Data) > s.cfg.MaxValueSize {
			in.Err = backends.ErrTooLarge
			continue
		}
		keys = append(keys, in.Key)
	}
	if len(keys) == 0 {
		return nil
	}
	stripes := s.locks.LockAll(keys, nil)
	defer s.locks.UnlockAll(stripes)
	now := s.cfg.Now()
	nowRel := s.rel(now)
	type pending struct {
		i   int   // index in batch
		d   int64 // deadline, relative
		val []byte
	}
	var (
		ops     = make([]*writeOp, 0, len(keys))
		todo    = make([]pending, 0, len(keys))
		earlier = map[string]bool{} // keys stored earlier in this batch
	)
	for i := range batch {
		in := &batch[i]
		if in.Err != nil || !in.Expires.After(now) {
			continue // refused, or already past: nothing to keep
		}
		if !in.Replace {
			if earlier[in.Key] {
				continue
			}
			live, err := s.readLive(in.Key, nowRel, func(*backends.Record, int64) {})
			if err != nil {
				in.Err = fmt.Errorf("badgerstore: %s: install: read: %w", s.path, err)
				continue
			}
			if live {
				continue
			}
		}
		t := ttlOf(&in.Record)
		d := min(s.rel(in.Expires), math.MaxInt64-int64(slack(t)))
		hsec := s.horizonSec(d + int64(slack(t)))
		val := encodeRecord(&in.Record, hsec)
		op := opPool.Get().(*writeOp)
		op.key, op.val, op.expiresAt, op.del = recordKey(in.Key), val, badgerExpiry(hsec, now), false
		ops = append(ops, op)
		todo = append(todo, pending{i: i, d: d, val: val})
		earlier[in.Key] = true
	}
	if len(ops) == 0 {
		return nil
	}
	errs := make([]error, len(ops))
	s.wr.writeGroup(ops, errs)
	for j, p := range todo {
		in := &batch[p.i]
		if errs[j] != nil {
			s.dl.uncache(in.Key) // the write may or may not have landed
			in.Err = fmt.Errorf("badgerstore: %s: install: write: %w", s.path, errs[j])
			continue
		}
		s.dl.put(in.Key, p.d, p.val)
		in.Stored = true
	}
	return nil
}

// RemoveBatch implements backends.BatchMover: the deletes of every key the
// index holds (it has every key on disk, live or expired), under all their
// key locks (taken as in InstallBatch), written as one group.
func (s *Store) RemoveBatch(ctx context.Context, keys []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return backends.ErrClosed
	}
	stripes := s.locks.LockAll(keys, nil)
	defer s.locks.UnlockAll(stripes)
	var (
		ops  = make([]*writeOp, 0, len(keys))
		dels = make([]string, 0, len(keys))
	)
	for _, k := range keys {
		if _, _, ok := s.dl.lookup(k); !ok {
			continue
		}
		op := opPool.Get().(*writeOp)
		op.key, op.val, op.expiresAt, op.del = recordKey(k), nil, 0, true
		ops = append(ops, op)
		dels = append(dels, k)
	}
	if len(ops) == 0 {
		return nil
	}
	errs := make([]error, len(ops))
	s.wr.writeGroup(ops, errs)
	var first error
	for j, k := range dels {
		if errs[j] != nil {
			s.dl.uncache(k)
			if first == nil {
				first = fmt.Errorf("badgerstore: %s: delete: %w", s.path, errs[j])
			}
			continue
		}
		s.dl.remove(k)
	}
	return first
}

// readLive calls use with key's live record and its deadline (relative to
// epoch), reading it as Apply does (record cache, else badger) but without
// sliding; it reports whether it found one. The caller holds key's lock; the
// record is valid only while use runs.
func (s *Store) readLive(key string, nowRel int64, use func(rec *backends.Record, deadline int64)) (bool, error) {
	e, cachedVal, inIndex := s.dl.lookup(key)
	found := false
	check := func(v []byte) error {
		rec, hsec, err := decodeRecord(v)
		if err != nil {
			return err
		}
		eff := s.relSec(hsec)
		if inIndex && e.d < eff {
			eff = e.d
		}
		if nowRel > eff {
			return nil // expired: invisible
		}
		found = true
		use(&rec, eff)
		return nil
	}
	if cachedVal != nil {
		return found, check(cachedVal)
	}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(check)
	})
	return found, err
}

// abs converts a deadline relative to epoch to a time on the store's clock.
func (s *Store) abs(rel int64) time.Time {
	return s.epoch.Add(time.Duration(rel)).Round(0).UTC()
}
