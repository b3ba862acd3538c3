package redisstore

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/redis/go-redis/v9"
)

// Lock-release notices, for the gateway's lock wait (locking.Waiters, issue
// 15): a request waiting at one gateway for a lock released through another
// is woken through Redis pub/sub, without polling.
//
// Once NotifyReleases is called, a write that frees a lock (unlocks or
// deletes a locked record) publishes the Store's random name on the channel
// <prefix>r:<session key> from inside the compare-and-set script, so it
// costs no extra round trip and is sent only if the write happened. Each
// such Store holds one pattern subscription, <prefix>r:*, on a connection
// of its own, and hands the key of every notice another Store published to
// notify: the gateway that made a release has woken its own waiters already,
// and a second wake would only make the next waiter run for nothing (a read
// and a 423 per hand-off on a hot session). A notice lost while
// that connection reconnects only means a waiter waits until its wait ends,
// then answers 423 as without the wait.
//
// A notice is published only while some gateway waits for that key: before
// a request starts waiting, ExpectRelease makes sure an interest key
// (interestKey) exists for at least the wait, and the script publishes only
// if it does. Publishing every release cost ordinary traffic, which releases
// a lock on nearly every request and is almost never waited for, about 20%
// of its requests/s (a notice out of Redis and into every gateway per
// request). Redis runs the scripts one at a time, so a release either comes
// after the interest key was written and is published, or before, and then
// the waiter's next run, which follows ExpectRelease, sees it. If Redis
// loses the interest key (a restart, a flush) while this Store believes it
// written, waiters until it is written again wait out their wait, as after
// a lost notice.

// releaseNotices is the Store's subscription; the zero value is off.
type releaseNotices struct {
	on   atomic.Bool // publish releases
	mu   sync.Mutex  // guards ps
	ps   *redis.PubSub
	done chan struct{} // closed when the reader goroutine ends
	self string        // this Store's name, the message of its notices

	imu       sync.Mutex           // guards interests and pruneAt
	interests map[string]time.Time // interest key -> when this Store's last write of it expires at the latest
	pruneAt   int                  // prune expired interests once there are this many
}

// NotifyReleases makes this Store publish the lock releases it writes and
// call notify with the session key of every release another Store (another
// gateway) published under its key prefix, until Close. Call it once,
// before the Store is used.
func (s *Store) NotifyReleases(notify func(key string)) error {
	prefix := s.cfg.KeyPrefix + "r:"
	ps := s.client.PSubscribe(context.Background(), prefix+"*")
	n := &s.releases
	n.mu.Lock()
	n.ps, n.done = ps, make(chan struct{})
	n.mu.Unlock()
	n.self = newWriteID()
	n.on.Store(true)
	ch := ps.Channel()
	go func() {
		defer close(n.done)
		for m := range ch {
			if key, ok := strings.CutPrefix(m.Channel, prefix); ok && m.Payload != n.self {
				notify(key)
			}
		}
	}()
	return nil
}

// interestScript makes KEYS[1] exist for at least ARGV[1] ms from now,
// without shortening a longer life given by another gateway.
const interestScript = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], '', 'PX', ARGV[1])
end
return 1
`

// interestKey is the key whose existence says that a gateway waits for the
// release of the record under rkey: <prefix>w:{rkey}, whose hash tag puts it
// in rkey's Cluster slot, so that the compare-and-set script may read it. A
// key with braces of its own would be hashed by another rule: for it there
// is no interest key ("") and every release is published, as before.
func (s *Store) interestKey(rkey string) string {
	if strings.ContainsAny(rkey, "{}") {
		return ""
	}
	return s.cfg.KeyPrefix + "w:{" + rkey + "}"
}

// ExpectRelease is called before a request of this gateway waits up to d
// for key's lock: until then a release of key, through any gateway, is
// published. It writes the interest key (for twice d, so that the waiters
// of the next d find it written) unless this Store's last write of it still
// covers d: one round trip per hot key and wait, not per waiter. An error
// is Redis's, and the wait should not start.
func (s *Store) ExpectRelease(ctx context.Context, key string, d time.Duration) error {
	n := &s.releases
	if !n.on.Load() {
		return nil
	}
	ik := s.interestKey(s.cfg.KeyPrefix + "s:" + key)
	if ik == "" {
		return nil
	}
	now := time.Now()
	n.imu.Lock()
	covered := n.interests[ik].After(now.Add(d))
	n.imu.Unlock()
	if covered {
		return nil
	}
	life := 2 * d
	if life < time.Second {
		life = time.Second
	}
	err := s.script(ctx, s.opDeadline(ctx), s.interestS, interestScript, ik, []any{life.Milliseconds()}).Err()
	if err != nil {
		return s.fail("expect a release", err)
	}
	n.imu.Lock()
	if n.interests == nil {
		n.interests, n.pruneAt = map[string]time.Time{}, 1024
	}
	n.interests[ik] = now.Add(life) // now: before the write, so never later than Redis's expiry
	if len(n.interests) >= n.pruneAt {
		for k, until := range n.interests {
			if !until.After(now) {
				delete(n.interests, k)
			}
		}
		n.pruneAt = max(1024, 2*len(n.interests))
	}
	n.imu.Unlock()
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
		return s.noticeChannel(key)
	}
	return ""
}

// noticeChannel is the channel key's releases are published on.
func (s *Store) noticeChannel(key string) string { return s.cfg.KeyPrefix + "r:" + key }

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
