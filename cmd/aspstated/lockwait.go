package main

import (
	"context"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// releaseNotifier is a store shared by gateways (redisstore) that can tell
// this gateway about lock releases made through the others, and announce
// its own, for the keys some gateway expects a release of.
type releaseNotifier interface {
	NotifyReleases(notify func(key string)) error
	ExpectRelease(ctx context.Context, key string, d time.Duration) error
}

// lockWaits builds the lock-wait registry the front end and peering share,
// or nil when locking.wait is 0. On a shared store it also subscribes to the
// releases other gateways make.
func lockWaits(cfg *Config, be backends.Backend) (*locking.Waiters, error) {
	if cfg.Locking.Wait <= 0 {
		return nil, nil
	}
	w := locking.NewWaiters(cfg.Locking)
	if rn, ok := be.(releaseNotifier); ok {
		if err := rn.NotifyReleases(w.Notify); err != nil {
			return nil, err
		}
		w.ExpectWith(rn.ExpectRelease)
	}
	return w, nil
}
