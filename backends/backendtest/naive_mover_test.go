package backendtest_test

import (
	"bytes"
	"context"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// The naive store's Mover, with its own deliberate bugs (see naive.bug).

func (s *naive) Walk(ctx context.Context, fn func(string, *backends.Record, time.Time) error) error {
	type item struct {
		key string
		r   naiveRec
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return backends.ErrClosed
	}
	now := s.now()
	var items []item
	for k, r := range s.recs {
		if s.bug == "walk-shows-expired" || !now.After(r.deadline) {
			if s.bug == "walk-wrong-deadline" {
				r.deadline = now.Add(r.rec.TTL())
			}
			items = append(items, item{k, r})
		}
	}
	s.mu.Unlock() // fn may call back into the store
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := it.r.rec
		if err := fn(it.key, &r, it.r.deadline); err != nil {
			return err
		}
	}
	return nil
}

func (s *naive) Peek(_ context.Context, key string) (backends.Record, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return backends.Record{}, time.Time{}, backends.ErrClosed
	}
	now := s.now()
	r, ok := s.recs[key]
	if !ok || now.After(r.deadline) {
		return backends.Record{}, time.Time{}, backends.ErrNotFound
	}
	if s.bug == "peek-slides" {
		r.deadline = now.Add(r.rec.TTL())
		s.recs[key] = r
	}
	out := r.rec
	out.Data = bytes.Clone(r.rec.Data)
	return out, r.deadline, nil
}

func (s *naive) Install(_ context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, backends.ErrClosed
	}
	now := s.now()
	if !expires.After(now) && s.bug != "install-past" {
		return false, nil
	}
	if r, ok := s.recs[key]; ok && !now.After(r.deadline) {
		if !replace && s.bug != "install-ignores-replace" {
			return false, nil
		}
		if replace && s.bug == "install-never-replaces" {
			return false, nil
		}
	}
	if s.bug == "install-resets-deadline" {
		expires = now.Add(rec.TTL())
	}
	rec.Data = bytes.Clone(rec.Data)
	s.recs[key] = naiveRec{rec: rec, deadline: expires}
	return true, nil
}
