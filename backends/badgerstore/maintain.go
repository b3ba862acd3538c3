package badgerstore

import (
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

const (
	rewriteEvery = time.Second      // how often pending horizon rewrites are flushed
	sweepEvery   = 20 * time.Second // how often expired records are deleted (the reference sweeps every 20 s)
	maintBatch   = 128              // keys per background transaction: small, so conflicts with Apply cost little
	sweepLimit   = 16 * maintBatch  // expired keys handled per sweep round
)

// maintain is the goroutine that rewrites horizons and sweeps expired records.
// Owned by the Store; Close stops it.
func (s *Store) maintain() {
	defer s.wg.Done()
	rewrite := time.NewTicker(rewriteEvery)
	defer rewrite.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-rewrite.C:
			if err := s.flushPending(); err != nil {
				s.cfg.Logger.Warn("badgerstore: rewriting session horizons", "path", s.path, "err", err)
			}
		case <-sweep.C:
			n, err := s.sweep()
			s.expired.Add(int64(n))
			if err != nil {
				s.cfg.Logger.Warn("badgerstore: sweeping expired sessions", "path", s.path, "err", err)
			}
		}
	}
}

// every runs fn every d until Close; each background loop but maintain is
// one of these. Owned by the Store (s.wg).
func (s *Store) every(d time.Duration, fn func()) {
	defer s.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// flushPending rewrites the horizon of every pending key whose deadline is
// still close to it. Keys that hit a conflict stay pending.
func (s *Store) flushPending() error {
	s.pendingMu.Lock()
	keys := make([]string, 0, len(s.pending))
	for k := range s.pending {
		keys = append(keys, k)
	}
	clear(s.pending)
	s.pendingMu.Unlock()
	var errs []error
	for len(keys) > 0 {
		n := min(len(keys), maintBatch)
		if err := s.rewriteBatch(keys[:n]); err != nil {
			for _, k := range keys[:n] {
				s.enqueue(k)
			}
			if !errors.Is(err, badger.ErrConflict) && !errors.Is(err, badger.ErrBlockedWrites) {
				errs = append(errs, err)
			}
		}
		keys = keys[n:]
	}
	return errors.Join(errs...)
}

// rewriteBatch pushes the horizon of keys forward in one transaction. Each key
// is read under its key lock; an Apply that writes one of them between that
// read and the commit makes the commit fail with badger.ErrConflict, so this
// never overwrites a newer record.
func (s *Store) rewriteBatch(keys []string) error {
	written := 0
	now := s.cfg.Now()
	nowRel := s.rel(now)
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, key := range keys {
		w, err := func() (bool, error) {
			mu := s.locks.Lock(key)
			defer mu.Unlock()
			e, ok := s.dl.get(key)
			if !ok || e.d < nowRel {
				return false, nil // gone or expired: the sweeper's business
			}
			bkey := recordKey(key)
			item, err := txn.Get(bkey)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return false, err
			}
			rec, hsec, err := decodeRecord(v)
			if err != nil {
				return false, err
			}
			t := ttlOf(&rec)
			diskH := s.relSec(hsec)
			if e.d <= diskH-int64(slack(t))/2 {
				return false, nil // an Apply already moved it
			}
			// Drop the cached copy: it would keep the old horizon, which is
			// safe but makes the next read rewrite it again.
			s.dl.uncache(key)
			nh := s.horizonSec(max(diskH, e.d+int64(slack(t))))
			setHorizon(v, nh)
			ent := badger.NewEntry(bkey, v)
			ent.ExpiresAt = badgerExpiry(nh, now)
			if err := txn.SetEntry(ent); err != nil {
				return false, err
			}
			return true, nil
		}()
		if err != nil {
			return fmt.Errorf("badgerstore: %s: horizon rewrite: %w", s.path, err)
		}
		if w {
			written++
		}
	}
	if written == 0 {
		return nil
	}
	s.wr.gate.commitStart()
	defer s.wr.gate.commitEnd()
	return txn.Commit()
}

// sweep deletes expired records from disk and from the index, and returns how
// many it removed. Badger's TTL would drop them eventually too, but only at
// the horizon, and a restart before that would bring them back.
func (s *Store) sweep() (int, error) {
	total := 0
	nowRel := s.rel(s.cfg.Now())
	for {
		keys := s.dl.expired(nowRel, sweepLimit)
		round := 0
		for i := 0; i < len(keys); i += maintBatch {
			removed, err := s.sweepBatch(keys[i:min(i+maintBatch, len(keys))], nowRel)
			round += removed
			if err != nil && !errors.Is(err, badger.ErrConflict) && !errors.Is(err, badger.ErrBlockedWrites) {
				return total + round, err
			}
		}
		total += round
		// Stop when everything expired fitted in this round, or when nothing
		// could be removed (conflicts: the next sweep retries).
		if len(keys) < sweepLimit || round == 0 {
			return total, nil
		}
	}
}

// sweepBatch deletes keys that are still expired, in one transaction, with
// the same conflict protection as rewriteBatch.
func (s *Store) sweepBatch(keys []string, nowRel int64) (int, error) {
	type done struct {
		key string
		gen uint64
	}
	var dones []done
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, key := range keys {
		d, err := func() (*done, error) {
			mu := s.locks.Lock(key)
			defer mu.Unlock()
			e, ok := s.dl.get(key)
			if !ok || e.d >= nowRel {
				return nil, nil
			}
			bkey := recordKey(key)
			if _, err := txn.Get(bkey); err != nil {
				if errors.Is(err, badger.ErrKeyNotFound) {
					return &done{key, e.gen}, nil // badger's TTL got there first
				}
				return nil, err
			}
			if err := txn.Delete(bkey); err != nil {
				return nil, err
			}
			return &done{key, e.gen}, nil
		}()
		if err != nil {
			return 0, fmt.Errorf("badgerstore: %s: sweep: %w", s.path, err)
		}
		if d != nil {
			dones = append(dones, *d)
		}
	}
	if len(dones) == 0 {
		return 0, nil
	}
	s.wr.gate.commitStart()
	err := txn.Commit()
	s.wr.gate.commitEnd()
	if err != nil {
		return 0, err
	}
	for _, d := range dones {
		s.dl.removeIf(d.key, d.gen)
	}
	return len(dones), nil
}
