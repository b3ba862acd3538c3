package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

const (
	// maxAttempts bounds the read-transition-CAS loop under contention.
	maxAttempts = 16
	// maxConflictBackoff caps the jittered sleep between attempts.
	maxConflictBackoff = 20 * time.Millisecond
	// probeInterval is how often the startup probe pings an unreachable Redis.
	probeInterval = time.Second
)

// Redis connection state, for logging changes once rather than per request.
const (
	stateUnknown int32 = iota
	stateUp
	stateDown
)

// Store is a backends.Backend on Redis. It is safe for concurrent use, and
// several Stores (in one or several processes) may share one Redis and key
// prefix: the compare-and-set keeps their transitions atomic.
type Store struct {
	cfg       Config
	client    redis.UniversalClient
	batch     batcher         // standalone and Sentinel
	big       bigKeys         // keys whose last value was large: read outside the shared pipelines (bigreads.go)
	bigs      bigCopies       // the last value read of large keys, sent again only when changed (bigreads.go)
	nodes     clusterBatchers // Cluster: a batcher per master node
	cache     writeCache
	cas       *redis.Script
	fix       *redis.Script
	readS     *redis.Script // reads that a MULTI block cannot do (see read)
	changed   *redis.Script // reads of a large key whose last value this store holds (bigreads.go)
	peekS     *redis.Script // Peek and Walk (mover.go)
	install   *redis.Script // Install (mover.go)
	interestS *redis.Script // ExpectRelease (releases.go)
	log       *slog.Logger

	// timeout is the timeout (minutes) of the record last read or written:
	// a read slides the deadline by it before it sees the record, and most
	// records of a farm share one timeout.
	timeout atomic.Int32

	state  atomic.Int32 // stateUnknown, stateUp or stateDown
	full   atomic.Bool  // Redis refused a write for lack of memory, logged once
	closed atomic.Bool

	counts   pipelineCounts // for PipelineStats
	turns    keyTurns       // Applies of one key that lost a CAS take turns
	policy   policyState    // Redis's eviction policy (eviction.go)
	recheck  chan struct{}  // asks policyLoop to read the policy again
	releases releaseNotices // lock-release pub/sub, off unless NotifyReleases (releases.go)

	stop      context.CancelFunc // ends the startup probe and policyLoop
	wg        sync.WaitGroup     // the startup probe and policyLoop goroutines
	closeOnce sync.Once
	closeErr  error // set by closeOnce
}

var (
	_ backends.Backend      = (*Store)(nil)
	_ backends.StableData   = (*Store)(nil)
	_ backends.BorrowedKeys = (*Store)(nil)
)

// StableData implements backends.StableData: the record a transition sees
// is decoded into memory of its own (or is the write cache's copy, taken
// out of the cache), and nothing writes to it afterwards.
func (s *Store) StableData() bool { return true }

// BorrowedKeys implements backends.BorrowedKeys: Apply builds the Redis key
// as a new string and keeps only that (in the write cache); errors never
// contain the key.
func (s *Store) BorrowedKeys() bool { return true }

// Open validates cfg and creates the client. It does not wait for Redis: if
// Redis is unreachable the gateway still starts, the problem is logged, Apply
// returns errors, and everything works as soon as Redis answers.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tlsCfg, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, err
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:      cfg.Addrs,
		MasterName: cfg.MasterName,
		ClientName: "aspstated", // visible in CLIENT LIST
		Username:   cfg.Username,
		Password:   cfg.Password,
		DB:         cfg.DB,
		TLSConfig:  tlsCfg,
		PoolSize:   cfg.PoolSize,
		// One pool for everything, so that PoolSize bounds the connections
		// (Sentinel and Cluster pipelines use at most cfg.Pipelines of them
		// per node; a standalone Redis's pipelines have their own).
		PipelinePoolSize: -1,
		MaxRetries:       cfg.MaxRetries,
		// Dial failures are retried by the pool itself; two tries are
		// enough to ride out a refused connection during a restart.
		DialerRetries:         2,
		DialTimeout:           cfg.DialTimeout,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		ContextTimeoutEnabled: true, // so Apply's deadline bounds socket I/O
		// Not needed, and each costs a handshake step on every new connection.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{
		cfg:       cfg,
		client:    client,
		cas:       redis.NewScript(casScript),
		fix:       redis.NewScript(fixScript),
		readS:     redis.NewScript(readScript),
		changed:   redis.NewScript(changedScript),
		peekS:     redis.NewScript(peekScript),
		install:   redis.NewScript(installScript),
		interestS: redis.NewScript(interestScript),
		log:       cfg.Logger.With("component", "redisstore"),
		stop:      stop,
		recheck:   make(chan struct{}, 1),
	}
	s.timeout.Store(locking.DefaultTimeout)
	s.nodes.cluster, _ = client.(*redis.ClusterClient)
	s.nodes.pipelines = cfg.Pipelines // per node
	s.nodes.counts = &s.counts
	s.batch.counts = &s.counts
	if s.nodes.cluster == nil && !cfg.goRedisOnly {
		s.batch = batcher{client: client, maxFlushers: cfg.Pipelines, counts: &s.counts}
		if cfg.MasterName == "" {
			s.batch.pipes = newPipeConns(&cfg, tlsCfg)
		}
	}
	s.wg.Add(2)
	go s.probe(ctx)
	go s.policyLoop(ctx)
	return s, nil
}

// Client returns the underlying go-redis client, for health checks, tools
// and tests. Do not close it; close the Store.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Close stops the startup probe and closes the connections. Apply calls after
// Close return backends.ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.wg.Wait()
		s.releases.close()
		if err := s.client.Close(); err != nil {
			s.closeErr = fmt.Errorf("redisstore: close: %w", err)
		}
		s.batch.close()
		s.nodes.close()
	})
	return s.closeErr
}

// probe pings Redis once at startup and, if it does not answer, every
// probeInterval until it does, so that an operator sees at once in the log
// whether the store works.
func (s *Store) probe(ctx context.Context) {
	defer s.wg.Done()
	for {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		err := s.client.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if s.state.CompareAndSwap(stateUnknown, stateUp) {
				s.log.Info("redisstore: connected to redis", "addrs", s.cfg.Addrs)
			} else {
				s.markUp()
			}
			s.checkPolicy(ctx) // eviction.go
			return
		}
		s.markDown(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(probeInterval):
		}
	}
}

func (s *Store) markUp() {
	if s.state.Load() != stateUp && s.state.Swap(stateUp) == stateDown {
		s.log.Info("redisstore: redis is answering again", "addrs", s.cfg.Addrs)
		select { // read its eviction policy again (eviction.go)
		case s.recheck <- struct{}{}:
		default:
		}
	}
}

func (s *Store) markFull() {
	if !s.full.Load() && !s.full.Swap(true) {
		s.log.Warn("redisstore: redis is at maxmemory and refuses writes: new sessions and updates fail (reads and deletes still work)",
			"addrs", s.cfg.Addrs)
	}
}

func (s *Store) markDown(err error) {
	if s.state.Swap(stateDown) != stateDown {
		s.log.Error("redisstore: redis is not answering; session requests fail until it does",
			"addrs", s.cfg.Addrs, "err", err)
	}
}

// Apply runs fn on the key's record: (1) one transaction reads the record
// and slides its deadline; (2) fn runs in Go; (3) unless fn keeps the record,
// a script writes or deletes it only if nobody else wrote it since (1), and
// otherwise the whole sequence starts again, so fn may run several times.
// When this gateway wrote the key last (the write cache), step 1 is skipped
// on the first attempt: fn runs on the record as written, and the CAS proves
// it is still the stored one.
func (s *Store) Apply(ctx context.Context, key string, fn backends.Transition) error {
	if s.closed.Load() {
		return backends.ErrClosed
	}
	deadline := s.opDeadline(ctx)
	rkey := s.cfg.KeyPrefix + "s:" + key
	cached, useCache := s.cache.take(rkey)
	var release func() // set once this Apply holds key's turn (keyturns.go)
	defer func() {
		if release != nil {
			release()
		}
	}()
	for attempt := 1; ; attempt++ {
		// cur is the live record or nil; wid is the write id the CAS must
		// find, "" when there is no key at all; version its write count.
		var cur *backends.Record
		var wid string
		var version int64
		fromCache := useCache
		if useCache {
			useCache = false
			rec := cached.rec // on the heap (fn keeps cur), but only on this path
			cur, wid, version = &rec, cached.wid, cached.version
		} else {
			st, live, err := s.read(ctx, deadline, rkey)
			if err != nil {
				return err
			}
			wid, version = st.wid, st.version
			if live {
				cur = &st.rec
			}
		}

		ch := fn(cur)
		if ch.Action == backends.Keep && fromCache {
			// Nothing proves the cached record current: read it.
			attempt--
			continue
		}
		notice := s.releaseChannel(key, cur, &ch)
		args, newID, err := s.casArgs(&ch, cur, wid, version, notice)
		if err != nil {
			return err
		}
		if args == nil { // nothing to write
			s.markUp()
			return nil
		}
		interest := ""
		if notice != "" {
			interest = s.interestKey(rkey)
		}
		applied, err := s.writeCAS(ctx, deadline, rkey, interest, &ch, args, newID, version+1)
		if err != nil || applied {
			return err
		}
		if fromCache {
			// Another gateway wrote since this one did (or the record
			// expired): not a conflict with a concurrent writer, so read
			// at once.
			attempt--
			continue
		}
		s.counts.conflicts.Add(1)
		if release == nil {
			// The writer that won may be another Apply of this process:
			// queue behind the others that lost on this key, so that they
			// take turns instead of conflicting again, and retry at once.
			if release, err = s.turns.take(ctx, deadline, key); err != nil {
				return fmt.Errorf("redisstore: after %d conflicting writes: %w", attempt, err)
			}
			continue
		}
		if err := s.waitToRetry(ctx, deadline, attempt); err != nil {
			return err
		}
	}
}

// opDeadline is the deadline of one Apply: Config.OpTimeout from now, or
// ctx's if sooner. Every call carries it to the batcher, which bounds the
// socket I/O by it: cheaper than a context with a timer per Apply.
func (s *Store) opDeadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(s.cfg.OpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// casArgs is step 3's arguments for casScript: the change ch that the
// transition made to cur (nil if it saw none), guarded by the write id wid
// and numbered version+1, and the new write id. It returns nil arguments
// when there is nothing to write (Keep, or Delete of no key).
// notice is the channel to publish a lock release on ("" for none).
func (s *Store) casArgs(ch *backends.Change, cur *backends.Record, wid string, version int64, notice string) (args []any, newID string, err error) {
	// liveAt asks the CAS to check that the record fn saw live is still
	// live now; "" when fn saw none (an expired record may be replaced).
	liveAt := ""
	switch ch.Action {
	case backends.Keep:
		return nil, "", nil
	case backends.Delete:
		if wid == "" {
			return nil, "", nil // no key: nothing to delete
		}
		newID = newWriteID()
		if cur != nil {
			liveAt = strconv.FormatInt(s.cfg.Now().UnixMilli(), 10)
		}
		if notice != "" {
			return []any{wid, newID, "d", liveAt, "", "", notice, s.releases.self}, newID, nil
		}
		return []any{wid, newID, "d", liveAt}, newID, nil
	case backends.Store:
		if len(ch.Record.Data) > s.cfg.MaxValueSize {
			return nil, "", fmt.Errorf("redisstore: %d bytes: %w", len(ch.Record.Data), backends.ErrTooLarge)
		}
		now := s.cfg.Now()
		if cur != nil {
			liveAt = strconv.FormatInt(now.UnixMilli(), 10)
		}
		newID = newWriteID()
		dl := ""
		if ms, ok := expiryAt(ch.Record.Timeout, now); ok {
			dl = strconv.FormatInt(ms, 10)
		}
		if notice != "" {
			return []any{wid, newID, "s", liveAt, encodeValue(&ch.Record, newID, version+1), dl, notice, s.releases.self}, newID, nil
		}
		return []any{wid, newID, "s", liveAt, encodeValue(&ch.Record, newID, version+1), dl}, newID, nil
	}
	return nil, "", fmt.Errorf("redisstore: unknown action %v", ch.Action)
}

// writeCAS is step 3: casScript applies ch (as args) unless someone wrote
// the key since it was read. It reports whether the change was applied; on
// success the write cache learns the record as written (write id newID,
// write count version). interest is the key whose presence makes a release
// notice worth sending ("" to send it regardless; see interestKey).
func (s *Store) writeCAS(ctx context.Context, deadline time.Time, rkey, interest string, ch *backends.Change, args []any, newID string, version int64) (applied bool, err error) {
	n, err := s.script2(ctx, deadline, s.cas, casScript, rkey, interest, args).Int()
	if err != nil && ch.Action == backends.Store && isOOM(err) {
		// Redis at maxmemory with noeviction refused the write before
		// doing anything: a full store, not an outage.
		s.markFull()
		return false, fmt.Errorf("redisstore: write: %w: %w", backends.ErrFull, err)
	}
	if err != nil {
		// The write may or may not have happened; running fn again
		// could apply it twice, so report the failure instead.
		return false, s.fail("write", err)
	}
	s.markUp()
	if n != 1 {
		return false, nil
	}
	s.bigs.drop(rkey) // no longer the stored value
	if ch.Action == backends.Delete {
		s.cache.forget(rkey) // a concurrent Apply may have put one
	}
	if ch.Action == backends.Store {
		if ch.Record.Timeout > 0 {
			s.timeout.Store(ch.Record.Timeout)
		}
		s.cache.put(rkey, &ch.Record, newID, version)
		if s.full.Load() && s.full.Swap(false) {
			s.log.Info("redisstore: redis accepts writes again")
		}
	}
	return true, nil
}

// waitToRetry sleeps before attempt+1 after a conflicting write, with a
// jittered exponential backoff so that competing gateways do not retry in
// lockstep. It gives up after maxAttempts or at the deadline.
func (s *Store) waitToRetry(ctx context.Context, deadline time.Time, attempt int) error {
	if attempt == maxAttempts {
		return fmt.Errorf("redisstore: %d attempts: %w", attempt, ErrConflict)
	}
	backoff := min(time.Duration(1<<attempt)*50*time.Microsecond, maxConflictBackoff)
	wait := mrand.N(backoff) + 1
	if time.Until(deadline) < wait {
		return fmt.Errorf("redisstore: after %d conflicting writes: %w", attempt, context.DeadlineExceeded)
	}
	t := time.NewTimer(wait)
	select {
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("redisstore: after %d conflicting writes: %w", attempt, ctx.Err())
	case <-t.C:
	}
	return nil
}

// read is step 1 of Apply. One round trip returns the record with its
// deadline and slides the deadline by the timeout most records have
// (Store.timeout), no script: a MULTI/EXEC block (PEXPIRETIME, GETEX PXAT) in
// a shared pipeline, one block for all the reads of a batch on a standalone
// or Sentinel Redis, one per read on a Cluster. When Redis refuses the block
// (at maxmemory, or a Cluster node that no longer serves the key's slot),
// readScript does the same. It returns the stored value (zero if there is no
// key) and whether it is live by the gateway clock. When the guessed timeout
// was wrong, or the slide reached a record that had already expired (it must
// not come back), fixScript puts the deadline right before read returns.
func (s *Store) read(ctx context.Context, deadline time.Time, rkey string) (stored, bool, error) {
	now := s.cfg.Now()
	nowMs := now.UnixMilli()
	guess := s.timeout.Load()
	slide, _ := expiryAt(guess, now)
	var exp int64 // -2: no key; -1: no deadline
	var raw string
	var has, slid, private, same bool
	var err error
	mine, haveCopy := s.bigs.get(rkey)
	if haveCopy {
		exp, raw, has, slid, same, err = s.readChanged(ctx, deadline, rkey, nowMs, slide, mine.wid)
		if err == nil && has && !same {
			s.big.note(rkey, len(raw))
		}
	} else if s.cfg.goRedisOnly {
		exp, raw, has, err = s.readGoRedis(ctx, deadline, rkey, slide)
		slid = has
	} else {
		b, berr := s.batcherFor(ctx, deadline, rkey)
		if berr != nil {
			return stored{}, false, s.fail("read", berr)
		}
		c := callPool.Get().(*call)
		c.key, c.slide, c.deadline = rkey, slide, deadline
		run := b.run
		if s.big.has(rkey) {
			run = b.runAlone
		}
		if err := run(ctx, c); err != nil {
			return stored{}, false, s.fail("read", err)
		}
		exp, raw, has, err = c.exp, c.val, c.has, c.err
		c.release()
		if err == nil {
			s.big.note(rkey, len(raw))
		}
		// A value read over the store's own connections is in memory that
		// readBulk allocated for it alone: the record may keep it without a copy.
		private = b.pipes != nil
		slid = has
	}
	if isOOM(err) || isExecAbort(err) {
		exp, raw, has, slid, err = s.readByScript(ctx, deadline, rkey, nowMs, slide)
		private = false
	}
	if err != nil {
		return stored{}, false, s.fail("read", err)
	}
	if !has {
		if haveCopy {
			s.bigs.drop(rkey)
		}
		return stored{}, false, nil
	}
	st := mine
	if !same {
		if st, err = decodeValue(raw, private); err != nil {
			return stored{}, false, fmt.Errorf("redisstore: corrupt record: %w", err)
		}
		if haveCopy || len(raw) > directBytes {
			s.bigs.put(rkey, st)
		}
	}
	live := exp < 0 || exp >= nowMs
	fix := "" // the deadline to set instead of slide ("" for none)
	switch {
	case !live && slid:
		fix = strconv.FormatInt(exp, 10) // undo the slide
	case !live:
		return st, false, nil
	case st.rec.Timeout != guess:
		if ms, ok := expiryAt(st.rec.Timeout, now); ok {
			s.timeout.Store(st.rec.Timeout)
			fix = strconv.FormatInt(max(ms, exp), 10)
		}
	default:
		return st, true, nil
	}
	if err := s.script(ctx, deadline, s.fix, fixScript, rkey, []any{st.wid, fix}).Err(); err != nil {
		return stored{}, false, s.fail("read", err)
	}
	return st, live, nil
}

// readChanged is read's step for a large key whose value with write id wid
// this store holds (bigreads.go): one script, on a connection of its own
// since its reply may be large. same reports that the stored value is the
// one held, and then raw is empty.
func (s *Store) readChanged(ctx context.Context, deadline time.Time, rkey string, nowMs, slide int64, wid string) (exp int64, raw string, has, slid, same bool, err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	reply, err := s.changed.Run(ctx, s.client, []string{rkey}, nowMs, slide, wid).Slice()
	if errors.Is(err, redis.Nil) {
		return -2, "", false, false, false, nil
	}
	if err != nil {
		return 0, "", false, false, false, err
	}
	if len(reply) != 4 {
		return 0, "", false, false, false, fmt.Errorf("redisstore: read script returned %d values", len(reply))
	}
	exp, _ = reply[0].(int64)
	raw, has = reply[1].(string)
	live, _ := reply[2].(int64)
	n, _ := reply[3].(int64)
	return exp, raw, has, live == 1, n == 1, nil
}

// readByScript is read's step when Redis refuses the MULTI block: readScript
// does what the block does, and slides only a live record. On a Cluster,
// go-redis follows the node's redirection and reloads the slot map.
func (s *Store) readByScript(ctx context.Context, deadline time.Time, rkey string, nowMs, slide int64) (exp int64, raw string, has, slid bool, err error) {
	reply, err := s.script(ctx, deadline, s.readS, readScript, rkey, []any{nowMs, slide}).Slice()
	if errors.Is(err, redis.Nil) {
		return -2, "", false, false, nil
	}
	if err != nil {
		return 0, "", false, false, err
	}
	if len(reply) != 3 {
		return 0, "", false, false, fmt.Errorf("redisstore: read script returned %d values", len(reply))
	}
	exp, _ = reply[0].(int64)
	raw, has = reply[1].(string)
	n, _ := reply[2].(int64)
	return exp, raw, has, n == 1, nil
}

// fail wraps a Redis error and records an outage (network errors and
// timeouts, not error replies or the caller's cancellation), unless the store
// was closed under the call. Errors never name the key: it holds the session
// id, which must not end up in logs.
func (s *Store) fail(step string, err error) error {
	if s.closed.Load() {
		return backends.ErrClosed
	}
	var reply redis.Error
	if !errors.As(err, &reply) && !errors.Is(err, context.Canceled) {
		s.markDown(err)
	}
	return fmt.Errorf("redisstore: %s: %w", step, err)
}

// isOOM tells whether err is Redis's reply to a write at maxmemory.
func isOOM(err error) bool { return isReply(err, "OOM ") }

// isExecAbort tells whether err is Redis refusing a MULTI block, as it does
// for every block at maxmemory.
func isExecAbort(err error) bool { return isReply(err, "EXECABORT ") }

// isRedirect tells whether err is a Cluster node's answer that it does not
// serve the key's slot (now or at the moment): the command did not run.
func isRedirect(err error) bool { return isReply(err, "MOVED ", "ASK ", "TRYAGAIN ") }

// isReply tells whether err is an error reply from Redis (not a network
// failure) whose message starts with one of prefixes.
func isReply(err error, prefixes ...string) bool {
	if err == nil {
		return false // before reply, which escapes: no allocation on the hot path
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	for _, p := range prefixes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// newWriteID returns a fresh compare-and-set token. Random rather than a
// counter so that a record deleted and created again can never carry the
// token a slow writer expects (the ABA problem).
func newWriteID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// script runs sc (whose source is src) on key with args, through the batcher
// unless args carry a large value. The returned command holds the reply or
// the error; it is the caller's alone.
func (s *Store) script(ctx context.Context, deadline time.Time, sc *redis.Script, src, key string, args []any) *redis.Cmd {
	return s.script2(ctx, deadline, sc, src, key, "", args)
}

// script2 is script with a second key, key2, when it is not "": one in
// key's hash slot (interestKey), so that a Cluster node holds both.
func (s *Store) script2(ctx context.Context, deadline time.Time, sc *redis.Script, src, key, key2 string, args []any) *redis.Cmd {
	keys := 1
	if key2 != "" {
		keys = 2
	}
	size := 0
	for _, a := range args {
		if b, ok := a.([]byte); ok {
			size += len(b)
		}
	}
	if size > directBytes {
		s.big.note(key, size)
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return sc.Run(ctx, s.client, []string{key, key2}[:keys], args...)
	}
	if s.cfg.goRedisOnly {
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return sc.Run(ctx, s.client, []string{key, key2}[:keys], args...)
	}
	b, err := s.batcherFor(ctx, deadline, key)
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	cmdArgs := make([]any, 0, 5+len(args))
	cmdArgs = append(cmdArgs, "evalsha", sc.Hash(), keys, key)
	if key2 != "" {
		cmdArgs = append(cmdArgs, key2)
	}
	cmdArgs = append(cmdArgs, args...)
	c := callPool.Get().(*call)
	c.cmd = redis.NewCmd(ctx, cmdArgs...)
	c.key, c.src, c.deadline = key, src, deadline
	if err := b.run(ctx, c); err != nil {
		// The flusher may still write to c: leave it to the collector.
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	cmd := c.cmd
	c.release()
	return cmd
}

// readGoRedis is read's round trip when Config.goRedisOnly is set: the same
// MULTI block (PEXPIRETIME, GETEX PXAT) as the batcher sends, as one go-redis
// transaction pipeline of its own. A refused block (OOM, EXECABORT) comes
// back as err, as from the batcher.
func (s *Store) readGoRedis(ctx context.Context, deadline time.Time, rkey string, slide int64) (exp int64, raw string, has bool, err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var pexp, getex *redis.Cmd
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		pexp = p.Do(ctx, "pexpiretime", rkey)
		getex = p.Do(ctx, "getex", rkey, "pxat", slide)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, "", false, err
	}
	if exp, err = pexp.Int64(); err != nil {
		return 0, "", false, err
	}
	raw, err = getex.Text()
	if errors.Is(err, redis.Nil) {
		return exp, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	return exp, raw, true, nil
}
