package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aspstate/aspstate/backends"
)

var _ backends.Mover = (*Store)(nil)

// walkItem is one record copied out of a shard for Walk. Data shares the
// stored slice, which is never written in place.
type walkItem struct {
	key      string
	rec      backends.Record
	deadline int64
}

// Walk implements backends.Mover: one shard at a time, copied out under the
// shard's lock and handed to fn after it is released.
func (s *Store) Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error {
	var page []walkItem
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memstore: %w", err)
		}
		sh := &s.shards[i]
		page = page[:0]
		sh.mu.Lock()
		if s.closed.Load() {
			sh.mu.Unlock()
			return backends.ErrClosed
		}
		now := s.now().UnixNano()
		add := func(e *entry) {
			if now <= e.deadline {
				var it walkItem
				it.key, it.deadline = e.key, e.deadline
				e.fill(&it.rec)
				page = append(page, it)
			}
		}
		for _, e := range sh.m {
			add(e)
		}
		for _, e := range sh.collided {
			add(e)
		}
		sh.mu.Unlock()
		for j := range page {
			it := &page[j]
			if err := fn(it.key, &it.rec, time.Unix(0, it.deadline)); err != nil {
				return err
			}
		}
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
	return r, time.Unix(0, e.deadline), nil
}

// Install implements backends.Mover.
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
	d := expires.UnixNano()
	if d < now {
		return false, nil
	}
	e := sh.find(h, key)
	if e != nil && now > e.deadline {
		s.removeLocked(sh, e)
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
