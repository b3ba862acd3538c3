package redisstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aspstate/aspstate/backends"
)

// The Store implements backends.Mover for export, import and the operators'
// API: several gateways share one Redis, so there is nothing for peering to
// hand off (it refuses a Shared store), but an operator can still list,
// inspect, back up and restore its sessions.

var (
	_ backends.Mover  = (*Store)(nil)
	_ backends.Shared = (*Store)(nil)
)

// Shared implements backends.Shared: every gateway on this Redis sees every
// record.
func (s *Store) Shared() bool { return true }

// peekScript returns a record's deadline and value without sliding it: nil
// for no key, else {deadline, value} (deadline -1: none). One key per call,
// so it runs on the key's own Cluster node.
const peekScript = `
local e = redis.call('PEXPIRETIME', KEYS[1])
if e == -2 then return false end
return {e, redis.call('GET', KEYS[1])}
`

// installScript stores ARGV[2] under the key with the deadline ARGV[3] (Unix
// ms), unless ARGV[4] is not "1" (no replace) and the key holds a record
// still live at ARGV[1] (the gateway's time, Unix ms). A replace given a
// channel (ARGV[5]) that replaces a key publishes ARGV[6] on it, as a
// release is (casScript; KEYS[2], when given, must exist). It returns 1 when
// it stored, 0 when it did not.
const installScript = `
local replaced = 0
if ARGV[4] ~= '1' then
	local e = redis.call('PEXPIRETIME', KEYS[1])
	if e == -1 or e >= tonumber(ARGV[1]) then return 0 end
elseif ARGV[5] then
	replaced = redis.call('EXISTS', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
if replaced == 1 and (not KEYS[2] or redis.call('EXISTS', KEYS[2]) == 1) then
	redis.call('PUBLISH', ARGV[5], ARGV[6])
end
return 1
`

// Walk pages: SCAN asks for walkScanCount keys at a time, and each page's
// records are read in one pipeline, so a walk of a million sessions is a
// long series of short commands that requests interleave with.
const walkScanCount = 200

// noDeadline is the deadline reported for a key without an expire time
// (which this store never writes): the largest time.Time in nanoseconds.
var noDeadline = time.Unix(0, math.MaxInt64).UTC()

// deadlineOf converts a PEXPIRETIME reply (Unix ms, -1 for none).
func deadlineOf(ms int64) time.Time {
	if ms < 0 {
		return noDeadline
	}
	return time.UnixMilli(ms).UTC()
}

// Peek implements backends.Mover: one script reads the value and its
// deadline without sliding it.
func (s *Store) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	if s.closed.Load() {
		return backends.Record{}, time.Time{}, backends.ErrClosed
	}
	rkey := s.cfg.KeyPrefix + "s:" + key
	reply, err := s.script(ctx, s.opDeadline(ctx), s.peekS, peekScript, rkey, nil).Slice()
	if errors.Is(err, redis.Nil) {
		return backends.Record{}, time.Time{}, backends.ErrNotFound
	}
	if err != nil {
		return backends.Record{}, time.Time{}, s.fail("peek", err)
	}
	s.markUp()
	st, exp, ok, err := peeked(reply)
	if err != nil {
		return backends.Record{}, time.Time{}, err
	}
	if !ok || (exp >= 0 && exp < s.cfg.Now().UnixMilli()) {
		return backends.Record{}, time.Time{}, backends.ErrNotFound
	}
	return st.rec, deadlineOf(exp), nil
}

// peeked decodes peekScript's reply; ok is false when the key vanished
// between the two commands (it cannot: a script is atomic; but a nil value
// is not a record).
func peeked(reply []any) (st stored, exp int64, ok bool, err error) {
	if len(reply) != 2 {
		return stored{}, 0, false, fmt.Errorf("redisstore: peek script returned %d values", len(reply))
	}
	exp, _ = reply[0].(int64)
	raw, ok := reply[1].(string)
	if !ok {
		return stored{}, 0, false, nil
	}
	st, err = decodeValue(raw, false)
	if err != nil {
		return stored{}, 0, false, fmt.Errorf("redisstore: corrupt record: %w", err)
	}
	if st.rec.Data == nil {
		st.rec.Data = []byte{}
	}
	return st, exp, true, nil
}

// Install implements backends.Mover: installScript stores the record with
// expires as the key's expire time (PXAT, on the gateway's clock like every
// deadline of this store), only over no live record unless replace.
func (s *Store) Install(ctx context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	if s.closed.Load() {
		return false, backends.ErrClosed
	}
	if len(rec.Data) > s.cfg.MaxValueSize {
		return false, fmt.Errorf("redisstore: %d bytes: %w", len(rec.Data), backends.ErrTooLarge)
	}
	now := s.cfg.Now()
	if !expires.After(now) {
		return false, nil
	}
	dl := expires.UnixMilli() // >= now's: live until that millisecond ends, as read checks
	rkey := s.cfg.KeyPrefix + "s:" + key
	rep := "0"
	if replace {
		rep = "1"
	}
	args := []any{now.UnixMilli(), encodeValue(&rec, newWriteID(), 1), dl, rep}
	interest := ""
	if replace && s.releases.on.Load() {
		// The replaced record may have held a lock that requests wait for
		// at other gateways: announced as a release (a woken waiter that
		// finds the lock still held waits on).
		args = append(args, s.noticeChannel(key), s.releases.self)
		interest = s.interestKey(rkey)
	}
	n, err := s.script2(ctx, s.opDeadline(ctx), s.install, installScript, rkey, interest, args).Int()
	if err != nil && isOOM(err) {
		s.markFull()
		return false, fmt.Errorf("redisstore: install: %w: %w", backends.ErrFull, err)
	}
	if err != nil {
		return false, s.fail("install", err)
	}
	s.markUp()
	if n == 1 {
		s.cache.forget(rkey) // the cached record is no longer the stored one
	}
	return n == 1, nil
}

// Walk implements backends.Mover: SCAN over the store's keys (never KEYS),
// on every master of a Cluster one after the other, in pages of
// walkScanCount; each page's records are read, with their deadlines and
// without sliding them, in one pipeline of peekScript calls; fn runs once a
// page is read, when nothing is held. SCAN may return a key twice (while Redis
// resizes its table): a set of 64-bit hashes of the keys already seen (8
// bytes a key and the map's overhead) keeps each key to one call.
func (s *Store) Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error {
	if s.closed.Load() {
		return backends.ErrClosed
	}
	var nodes []redis.UniversalClient
	if cl, ok := s.client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := cl.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
			mu.Lock()
			nodes = append(nodes, c)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return s.walkErr(ctx, "walk: masters", err)
		}
	} else {
		nodes = []redis.UniversalClient{s.client}
	}
	w := walker{s: s, fn: fn, seed: maphash.MakeSeed(), seen: map[uint64]struct{}{},
		prefix: s.cfg.KeyPrefix + "s:"}
	for _, node := range nodes {
		if err := w.node(ctx, node); err != nil {
			return err
		}
	}
	return nil
}

// walker is one Walk.
type walker struct {
	s      *Store
	fn     func(key string, rec *backends.Record, expires time.Time) error
	prefix string // of session keys
	seed   maphash.Seed
	seen   map[uint64]struct{}
}

// pageTimeout bounds one page's round trips: a page may carry up to
// walkScanCount records of MaxValueSize each.
func (w *walker) pageTimeout() time.Duration { return max(10*w.s.cfg.OpTimeout, 30*time.Second) }

// node walks the session keys of one Redis node.
func (w *walker) node(ctx context.Context, c redis.UniversalClient) error {
	match := globEscape(w.prefix) + "*"
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("redisstore: walk: %w", err)
		}
		if w.s.closed.Load() {
			return backends.ErrClosed
		}
		pctx, cancel := context.WithTimeout(ctx, w.pageTimeout())
		keys, next, err := c.Scan(pctx, cursor, match, walkScanCount).Result()
		if err == nil {
			err = w.page(pctx, c, keys)
		}
		cancel()
		if err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// page reads the records under keys (those not seen yet) and calls fn on the
// live ones.
func (w *walker) page(ctx context.Context, c redis.UniversalClient, keys []string) error {
	fresh := keys[:0]
	for _, k := range keys {
		h := maphash.String(w.seed, k)
		if _, dup := w.seen[h]; dup {
			continue
		}
		w.seen[h] = struct{}{}
		fresh = append(fresh, k)
	}
	if len(fresh) == 0 {
		return nil
	}
	// EVAL rather than EVALSHA: no NOSCRIPT round trip on a node that has
	// not seen the script, and Redis caches the compiled script anyway.
	cmds := make([]*redis.Cmd, len(fresh))
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range fresh {
			cmds[i] = w.s.peekS.Eval(ctx, p, []string{k})
		}
		return nil
	}) // each command's own error is looked at below
	now := w.s.cfg.Now().UnixMilli()
	for i, k := range fresh {
		reply, err := cmds[i].Slice()
		if isRedirect(err) {
			// A Cluster slot moving: ask the key's current node.
			reply, err = w.s.peekS.Run(ctx, w.s.client, []string{k}).Slice()
		}
		if errors.Is(err, redis.Nil) {
			continue // deleted since the SCAN
		}
		if err != nil {
			return w.s.walkErr(ctx, "walk", err)
		}
		st, exp, ok, err := peeked(reply)
		if err != nil {
			return err
		}
		if !ok || (exp >= 0 && exp < now) {
			continue // expired by the gateway's clock
		}
		key := strings.TrimPrefix(k, w.prefix)
		if err := w.fn(key, &st.rec, deadlineOf(exp)); err != nil {
			return err
		}
	}
	w.s.markUp()
	return nil
}

// walkErr wraps a Redis error of a walk: ctx's error or ErrClosed when
// those caused it.
func (s *Store) walkErr(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redisstore: %s: %w", step, ctx.Err())
	}
	return s.fail(step, err)
}

// globEscape escapes the characters SCAN's MATCH pattern treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
