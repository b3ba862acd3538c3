package redisstore

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aspstate/aspstate/backends"
	"github.com/redis/go-redis/v9"
)

// Lock-release notices, for the gateway's lock wait (locking.Waiters, issue
// 15): a request waiting at one gateway for a lock released through another
// is woken through Redis pub/sub, without polling.
//
// Once NotifyReleases is called, a write that frees a lock (unlocks or
// deletes a locked record) publishes an empty message on the channel
// <prefix>r:<session key> from inside the compare-and-set script, so it
// costs no extra round trip and is sent only if the write happened. Each
// such Store holds one pattern subscription, <prefix>r:*, on a connection
// of its own, and hands every notice's key to notify. A notice lost while
// that connection reconnects only means a waiter waits until its wait ends,
// then answers 423 as without the wait.

// releaseNotices is the Store's subscription; the zero value is off.
type releaseNotices struct {
	on   atomic.Bool // publish releases
	mu   sync.Mutex  // guards ps
	ps   *redis.PubSub
	done chan struct{} // closed when the reader goroutine ends
}

// NotifyReleases makes this Store publish the lock releases it writes and
// call notify with the session key of every release published under its key
// prefix (by any gateway, this one included) until Close. Call it once.
func (s *Store) NotifyReleases(notify func(key string)) error {
	prefix := s.cfg.KeyPrefix + "r:"
	ps := s.client.PSubscribe(context.Background(), prefix+"*")
	n := &s.releases
	n.mu.Lock()
	n.ps, n.done = ps, make(chan struct{})
	n.mu.Unlock()
	n.on.Store(true)
	ch := ps.Channel()
	go func() {
		defer close(n.done)
		for m := range ch {
			if key, ok := strings.CutPrefix(m.Channel, prefix); ok {
				notify(key)
			}
		}
	}()
	return nil
}

// releaseChannel is the channel to publish on when the change ch, made to
// cur, frees a lock ("" when it does not, or notices are off). The rule is
// locking.Releases, repeated here because stores know no lock rules.
func (s *Store) releaseChannel(key string, cur *backends.Record, ch *backends.Change) string {
	if !s.releases.on.Load() || cur == nil || !cur.Locked {
		return ""
	}
	if ch.Action == backends.Delete || (ch.Action == backends.Store && !ch.Record.Locked) {
		return s.cfg.KeyPrefix + "r:" + key
	}
	return ""
}

func (n *releaseNotices) close() {
	n.mu.Lock()
	ps, done := n.ps, n.done
	n.ps = nil
	n.mu.Unlock()
	if ps != nil {
		ps.Close()
		<-done
	}
}
