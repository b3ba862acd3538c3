package redisstore

import (
	"context"
	"sync"
	"time"
)

// keyTurns lets the Applies of one key in this process take turns once they
// have lost a compare-and-set. A first attempt never waits here (reads of a
// hot session pipeline together), but a loser queues, so several requests
// of this gateway writing one session do not keep invalidating each other's
// reads until one runs out of attempts: only writes from other gateways can
// still make a turn holder retry. Entries exist only while someone holds or
// waits for a turn.
type keyTurns struct {
	mu sync.Mutex // guards m
	m  map[string]*turn
}

type turn struct {
	refs int           // holders and waiters; guarded by keyTurns.mu
	ch   chan struct{} // capacity 1: holding the turn is a token in ch
}

// take waits for key's turn until ctx ends or deadline passes, and returns
// the function that gives it back.
func (k *keyTurns) take(ctx context.Context, deadline time.Time, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*turn)
	}
	t := k.m[key]
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		k.m[key] = t
	}
	t.refs++
	k.mu.Unlock()
	leave := func() {
		k.mu.Lock()
		if t.refs--; t.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	giveBack := func() { <-t.ch; leave() }
	select {
	case t.ch <- struct{}{}:
		return giveBack, nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case t.ch <- struct{}{}:
		return giveBack, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	case <-timer.C:
		leave()
		return nil, context.DeadlineExceeded
	}
}

// waiting reports how many Applies hold or wait for key's turn (tests).
func (k *keyTurns) waiting(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if t := k.m[key]; t != nil {
		return t.refs
	}
	return 0
}
