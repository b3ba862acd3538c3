package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aspstate/aspstate/backends"
)

var _ backends.BatchMover = (*Store)(nil)

// walkPage is how many keys Walk looks up per hold of a shard lock.
const walkPage = 256

// walked is one record of a Walk page, copied out under the shard lock.
type walked struct {
	key      string
	rec      backends.Record
	deadline int64
}

// Walk implements backends.Mover. Shard by shard, it snapshots the shard's
// keys under its lock, then looks them up again walkPage at a time, copying
// the live ones out, and calls fn with no lock held. rec.Data is the stored
// slice itself (stored slices are never written in place): fn must not
// modify it.
func (s *Store) Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error {
	var (
		keys []string
		page []walked
	)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if s.closed.Load() {
			sh.mu.Unlock()
			return backends.ErrClosed
		}
		keys = keys[:0]
		for _, e := range sh.m {
			keys = append(keys, e.key)
		}
		for _, e := range sh.collided {
			keys = append(keys, e.key)
		}
		sh.mu.Unlock()

		for start := 0; start < len(keys); start += walkPage {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("memstore: walk: %w", err)
			}
			page = page[:0]
			sh.mu.Lock()
			if s.closed.Load() {
				sh.mu.Unlock()
				return backends.ErrClosed
			}
			now := s.now().UnixNano()
			for _, k := range keys[start:min(start+walkPage, len(keys))] {
				e := sh.find(s.hash(k), k)
				if e == nil || now > e.deadline {
					continue // deleted meanwhile, or expired
				}
				page = append(page, walked{key: e.key, deadline: e.deadline})
				e.fill(&page[len(page)-1].rec)
			}
			sh.mu.Unlock()
			for j := range page {
				w := &page[j]
				if err := fn(w.key, &w.rec, time.Unix(0, w.deadline).UTC()); err != nil {
					return err
				}
			}
			clear(page) // keep no data alive between pages
		}
		clear(keys)
	}
	return nil
}

// Peek implements backends.Mover.
func (s *Store) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return backends.Record{}, time.Time{}, fmt.Errorf("memstore: %w", err)
	}
	h := s.hash(key)
	sh := &s.shards[h%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return backends.Record{}, time.Time{}, backends.ErrClosed
	}
	e := sh.find(h, key)
	if e == nil || s.now().UnixNano() > e.deadline {
		return backends.Record{}, time.Time{}, backends.ErrNotFound
	}
	var r backends.Record
	e.fill(&r)
	r.Data = bytes.Clone(r.Data)
	if r.Data == nil {
		r.Data = []byte{}
	}
	return r, time.Unix(0, e.deadline).UTC(), nil
}

// Install implements backends.Mover. It runs under the key's shard lock, as
// Apply does, so it is atomic with respect to Apply. Deadlines after the
// year 2262 are kept as the largest one the store can represent.
func (s *Store) Install(ctx context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: %w", err)
	}
	h := s.hash(key)
	sh := &s.shards[h%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		return false, backends.ErrClosed
	}
	now := s.now().UnixNano()
	if !expires.After(time.Unix(0, now)) {
		return false, nil // already past: nothing to keep
	}
	d := int64(math.MaxInt64)
	if expires.Before(time.Unix(0, math.MaxInt64)) {
		d = expires.UnixNano()
	}
	e := sh.find(h, key)
	if e != nil && now > e.deadline {
		s.removeLocked(sh, e) // expired but not swept: as good as absent
		e = nil
	}
	if e != nil && !replace {
		return false, nil
	}
	if err := s.storeLocked(sh, h, key, e, &rec, d); err != nil {
		return false, err
	}
	return true, nil
}

// InstallBatch implements backends.BatchMover: Install for each record in
// turn (a memory store has no sync to share).
func (s *Store) InstallBatch(ctx context.Context, batch []backends.Install) error {
	for i := range batch {
		in := &batch[i]
		in.Stored, in.Err = false, nil
		stored, err := s.Install(ctx, in.Key, in.Record, in.Expires, in.Replace)
		switch {
		case errors.Is(err, backends.ErrClosed) || ctx.Err() != nil:
			return err
		case err != nil:
			in.Err = err
		}
		in.Stored = stored
	}
	return nil
}

// RemoveBatch implements backends.BatchMover: a deleting Apply for each key.
func (s *Store) RemoveBatch(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := s.Apply(ctx, k, func(*backends.Record) backends.Change {
			return backends.Change{Action: backends.Delete}
		}); err != nil {
			return err
		}
	}
	return nil
}
