package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// maxBatch caps the calls sent in one pipeline; more wait for the next
	// one. Replies of 1 KiB sessions make a batch of this size about 130 KiB,
	// within go-redis's pipeline buffers.
	maxBatch = 128
	// directBytes: a command carrying more data than this skips the batcher
	// and goes on its own connection, so that one large session does not
	// hold up a whole batch of small ones.
	directBytes = 64 << 10
)

// call is one request waiting for a pipeline: a script (cmd) or a read (key
// and slide, answered in exp and val). The caller owns it until it is
// queued; then the flusher fills in the reply and sends on done. A caller
// that gives up (its context ended) sets abandoned and forgets the call; the
// flusher then skips it if it has not been sent yet.
type call struct {
	cmd *redis.Cmd // a script call (EVALSHA); nil for a read
	src string     // script source, for EVAL after NOSCRIPT
	key string     // the one key it touches (on a Cluster, it picks the node)

	// A read: MULTI, PEXPIRETIME key, GETEX key PXAT slide, EXEC.
	slide int64
	exp   int64  // PEXPIRETIME's reply: -2 no key, -1 no deadline
	val   string // GETEX's reply, when hasVal
	has   bool
	err   error // the read's error

	deadline  time.Time // the caller's; the batch waits for its latest
	done      chan struct{}
	abandoned atomic.Bool
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// errAbandoned is never returned to callers; run reports ctx's error.
var errAbandoned = errors.New("redisstore: call abandoned")

// batcher sends concurrent calls as shared pipelines: a caller queues its
// call and, unless maxFlushers flushers already run, starts one. A flusher
// takes everything queued, sends it as one pipeline, hands each caller its
// reply, and repeats until the queue is empty. A lone call is sent at once;
// under load, calls queue while a pipeline is in flight and leave together in
// the next one, one write and one read for the batch instead of one each.
//
// The reads of a batch go in one MULTI/EXEC block after its scripts, so that
// each read sees its key's value and deadline together; on a Cluster, where a
// block must stay within one hash slot, a batcher serves one master node and
// each read is a block of its own (execOnNode).
type batcher struct {
	client      redis.UniversalClient
	pipes       *pipeConns           // standalone Redis: pipelines go here, not through go-redis
	cluster     *redis.ClusterClient // set when client is one Cluster node (see execOnNode)
	maxFlushers int
	counts      *pipelineCounts // the store's, shared by a Cluster's batchers

	mu       sync.Mutex // guards queue, spare, flushers, closed
	queue    []*call
	spare    [][]*call // emptied batches, reused as the next queue
	flushers int       // flush goroutines running
	closed   bool      // no flusher starts after Close

	wg sync.WaitGroup // flush goroutines
}

// run sends c in the next pipeline and waits for its reply or the end of
// ctx, whichever comes first. On nil the reply is in c and c is the
// caller's again; on an error (ctx's) the flusher may still write to c, and
// the caller must leave it alone.
//
// c.deadline must be set: the pipeline's I/O ends by the latest deadline of
// its calls, and a call whose deadline has passed before it is sent fails
// without being sent, so a caller waits little longer than its deadline
// even without a context that says so.
func (b *batcher) run(ctx context.Context, c *call) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.fail(redis.ErrClosed)
		return nil
	}
	b.queue = append(b.queue, c)
	start := b.flushers < b.maxFlushers
	if start {
		b.flushers++
		b.wg.Add(1)
	}
	b.mu.Unlock()
	if start {
		go b.flush()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.abandoned.Store(true)
		return ctx.Err()
	}
}

// runAlone is run for a call that must not share a pipeline (a read of a
// large session, bigreads.go): it is sent at once as a pipeline of its own,
// beside the shared ones, whatever maxFlushers says.
func (b *batcher) runAlone(ctx context.Context, c *call) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.fail(redis.ErrClosed)
		return nil
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		b.send([]*call{c})
	}()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.abandoned.Store(true)
		return ctx.Err()
	}
}

func (c *call) fail(err error) {
	if c.cmd != nil {
		c.cmd.SetErr(err)
	}
	c.err = err
}

// release returns c to the pool; the caller has read its reply.
func (c *call) release() {
	c.cmd, c.src, c.key, c.val, c.has, c.err = nil, "", "", "", false, nil
	c.abandoned.Store(false)
	callPool.Put(c)
}

// flush sends batches until the queue is empty.
func (b *batcher) flush() {
	defer b.wg.Done()
	var sent []*call // the last batch, emptied
	for {
		b.mu.Lock()
		if sent != nil && len(b.spare) <= b.maxFlushers && cap(sent) <= 2*maxBatch {
			b.spare = append(b.spare, sent)
		}
		if len(b.queue) == 0 {
			b.flushers--
			b.mu.Unlock()
			return
		}
		batch := b.queue
		b.queue = b.takeSpare()
		if len(batch) > maxBatch {
			b.queue = append(b.queue, batch[maxBatch:]...)
			batch = batch[:maxBatch]
		}
		b.mu.Unlock()
		b.send(batch)
		clear(batch[:cap(batch)]) // the calls go back to callPool
		sent = batch[:0]
	}
}

// takeSpare returns an empty slice for the next queue, reusing the backing
// array of a batch already sent (so that a busy queue does not grow a new
// one from nothing each time). b.mu must be held.
func (b *batcher) takeSpare() []*call {
	n := len(b.spare)
	if n == 0 {
		return nil
	}
	q := b.spare[n-1]
	b.spare = b.spare[:n-1]
	return q
}

// send runs one pipeline. Its I/O ends at the latest deadline of the
// calls in it: each caller stops waiting at its own deadline anyway, and the
// others must not fail early because of it.
func (b *batcher) send(batch []*call) {
	live := batch[:0]
	var deadline time.Time
	now := time.Now()
	for _, c := range batch {
		if c.abandoned.Load() {
			continue // its caller has returned; nobody wants the reply
		}
		if !c.deadline.After(now) {
			c.fail(context.DeadlineExceeded) // waited for a busy pipeline too long
			c.done <- struct{}{}
			continue
		}
		live = append(live, c)
		if c.deadline.After(deadline) {
			deadline = c.deadline
		}
	}
	if len(live) == 0 {
		return
	}
	b.counts.pipelines.Add(1)
	b.counts.ops.Add(uint64(len(live)))
	b.exec(deadline, live)
	// Scripts are cached per server and lost when it restarts (or a Cluster
	// node is added): send those again with the source, which loads them.
	var retry []*call
	for _, c := range live {
		if c.cmd == nil {
			continue
		}
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			args := c.cmd.Args()
			args[0], args[1] = "eval", c.src
			c.cmd = redis.NewCmd(context.Background(), args...)
			retry = append(retry, c)
		}
	}
	if len(retry) > 0 {
		b.counts.resends.Add(uint64(len(retry)))
		b.exec(deadline, retry)
	}
	for _, c := range live {
		c.done <- struct{}{}
	}
}

// exec sends calls as one pipeline, whose I/O ends by deadline: the
// scripts, then the reads in one MULTI/EXEC block (on a Cluster node, see
// execOnNode). Each call gets its own reply or error.
func (b *batcher) exec(deadline time.Time, calls []*call) {
	if b.pipes != nil {
		b.pipes.exec(deadline, calls)
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if b.cluster != nil {
		execOnNode(ctx, b.client.(*redis.Client), b.cluster, calls)
		return
	}
	reads := 0
	for _, c := range calls {
		if c.cmd == nil {
			reads++
		}
	}
	if reads == 0 && len(calls) == 1 {
		_ = b.client.Process(ctx, calls[0].cmd)
		return
	}
	pipe := b.client.Pipeline()
	for _, c := range calls {
		if c.cmd != nil {
			_ = pipe.Process(ctx, c.cmd)
		}
	}
	var exec *redis.Cmd
	if reads > 0 {
		_ = pipe.Process(ctx, redis.NewStatusCmd(ctx, "multi"))
		for _, c := range calls {
			if c.cmd == nil {
				// Each answers +QUEUED (or an error such as OOM, which
				// makes EXEC fail); the replies come with EXEC's.
				queueRead(ctx, pipe, c)
			}
		}
		exec = redis.NewCmd(ctx, "exec")
		_ = pipe.Process(ctx, exec)
	}
	_, _ = pipe.Exec(ctx) // errors are on the commands
	if exec != nil {
		replies, err := exec.Slice()
		deliverReads(calls, replies, err)
	}
}

// execOnNode is exec on one Cluster master node (a Store on a Cluster has a
// batcher per master, so that a node that stalls holds up only the calls for
// its own slots). A MULTI block must stay within one hash slot there, so the
// reads cannot share one: each read is its own block (MULTI, PEXPIRETIME,
// GETEX, EXEC). When a key's slot has moved since go-redis last loaded the
// slot map, the node answers MOVED (or ASK, or TRYAGAIN during a migration)
// and runs nothing: a script is then sent again through go-redis's cluster
// pipeline, which follows the redirection and reloads the map; a read fails
// with EXECABORT, and Store.read reads it by script in the same way.
func execOnNode(ctx context.Context, node *redis.Client, cluster *redis.ClusterClient, calls []*call) {
	pipe := node.Pipeline()
	execs := make([]*redis.Cmd, len(calls)) // a read's EXEC
	for i, c := range calls {
		if c.cmd != nil {
			_ = pipe.Process(ctx, c.cmd)
			continue
		}
		_ = pipe.Process(ctx, redis.NewStatusCmd(ctx, "multi"))
		queueRead(ctx, pipe, c)
		execs[i] = redis.NewCmd(ctx, "exec")
		_ = pipe.Process(ctx, execs[i])
	}
	_, _ = pipe.Exec(ctx) // errors are on the commands
	var redirected []*call
	for i, c := range calls {
		switch {
		case execs[i] != nil:
			replies, err := execs[i].Slice()
			deliverReads(calls[i:i+1], replies, err)
		case isRedirect(c.cmd.Err()):
			c.cmd = redis.NewCmd(ctx, c.cmd.Args()...)
			redirected = append(redirected, c)
		}
	}
	if len(redirected) > 0 {
		pipe := cluster.Pipeline()
		for _, c := range redirected {
			_ = pipe.Process(ctx, c.cmd)
		}
		_, _ = pipe.Exec(ctx) // errors are on the commands
	}
}

// queueRead adds read c's two commands, inside a MULTI block, to pipe:
// PEXPIRETIME for the deadline, GETEX to return the value and slide it.
func queueRead(ctx context.Context, pipe redis.Pipeliner, c *call) {
	_ = pipe.Process(ctx, redis.NewCmd(ctx, "pexpiretime", c.key))
	_ = pipe.Process(ctx, redis.NewCmd(ctx, "getex", c.key, "pxat", c.slide))
}

// deliverReads hands each read its replies from EXEC's: two per read, in
// order. err (EXEC's own failure, such as EXECABORT) fails every read.
func deliverReads(calls []*call, replies []any, err error) {
	if err == nil && len(replies) != 2*countReads(calls) {
		err = fmt.Errorf("redisstore: EXEC returned %d replies for %d reads", len(replies), countReads(calls))
	}
	i := 0
	for _, c := range calls {
		if c.cmd != nil {
			continue
		}
		if err != nil {
			c.err = err
			continue
		}
		c.setRead(replyOf(replies[i]), replyOf(replies[i+1]))
		i += 2
	}
}

// setRead records a read's two replies: PEXPIRETIME's and GETEX's.
func (c *call) setRead(exp, val reply) {
	switch exp.kind {
	case ':':
		c.exp = exp.num
	case '-':
		c.err = replyError(exp.str)
		return
	default:
		c.err = errors.New("redisstore: PEXPIRETIME reply is not an integer")
		return
	}
	switch val.kind {
	case '$':
		c.val, c.has = val.str, true
	case 0:
	case '-':
		c.err = replyError(val.str)
	default:
		c.err = errors.New("redisstore: GETEX reply is not a string")
	}
}

func countReads(calls []*call) int {
	n := 0
	for _, c := range calls {
		if c.cmd == nil {
			n++
		}
	}
	return n
}

// close stops new flushers and waits for running ones, which end once the
// client is closed under them.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
	if b.pipes != nil {
		b.pipes.close()
	}
}

// clusterBatchers holds a Cluster store's batchers, one per master node,
// made when a node is first used, so that a node that stalls holds up only
// the calls for its own slots, not every pipeline of the store.
type clusterBatchers struct {
	cluster   *redis.ClusterClient // nil when the store is not on a Cluster
	pipelines int                  // Config.Pipelines: per node
	counts    *pipelineCounts      // the store's

	mu     sync.Mutex // guards byNode, closed
	byNode map[*redis.Client]*batcher
	closed bool // batchers made after Close are born closed
}

// batcherFor returns the batcher for key: the store's own, or on a Cluster
// the one of the master node that serves key's slot by go-redis's slot map
// (which go-redis loads first if it has none, by deadline at the latest).
func (s *Store) batcherFor(ctx context.Context, deadline time.Time, key string) (*batcher, error) {
	if s.nodes.cluster == nil {
		return &s.batch, nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	node, err := s.nodes.cluster.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.nodes.get(node), nil
}

func (n *clusterBatchers) get(node *redis.Client) *batcher {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.byNode[node]
	if b == nil {
		b = &batcher{client: node, cluster: n.cluster, maxFlushers: n.pipelines, closed: n.closed, counts: n.counts}
		if n.byNode == nil {
			n.byNode = make(map[*redis.Client]*batcher)
		}
		n.byNode[node] = b
	}
	return b
}

// close closes every node's batcher.
func (n *clusterBatchers) close() {
	n.mu.Lock()
	n.closed = true
	all := slices.Collect(maps.Values(n.byNode))
	n.mu.Unlock()
	for _, b := range all {
		b.close()
	}
}
