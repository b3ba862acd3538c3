package redisstore

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// maxBatch caps the commands sent in one pipeline; more wait for the
	// next one. Replies of 1 KiB sessions make a batch of this size about
	// 130 KiB, within go-redis's pipeline buffers.
	maxBatch = 128
	// directBytes: a command carrying more data than this skips the batcher
	// and goes on its own connection, so that one large session does not
	// hold up a whole batch of small ones.
	directBytes = 64 << 10
)

// maxFlushers is the number of pipelines in flight at once (per Store; a
// Cluster pipeline fans out to every node it touches).
const maxFlushers = 2

// call is one script invocation waiting for a pipeline. The caller owns it
// until it is queued; then the flusher fills cmd's reply and sends on done.
// A caller that gives up (its context ended) sets abandoned and forgets the
// call; the flusher then skips it if it has not been sent yet.
type call struct {
	cmd       *redis.Cmd
	src       string    // script source, for EVAL after NOSCRIPT
	deadline  time.Time // the caller's; the batch waits for its latest
	done      chan struct{}
	abandoned atomic.Bool
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// batcher sends concurrent script calls as shared pipelines: a caller queues
// its call and, unless maxFlushers flushers already run, starts one. A
// flusher takes everything queued, sends it as one pipeline, hands each
// caller its reply, and repeats until the queue is empty. A lone call is
// sent at once; under load, calls queue while a pipeline is in flight and
// leave together in the next one, one write and one read for the batch
// instead of one each.
type batcher struct {
	client      redis.UniversalClient
	maxFlushers int

	mu       sync.Mutex // guards queue, flushers, closed
	queue    []*call
	flushers int  // flush goroutines running
	closed   bool // no flusher starts after Close

	wg sync.WaitGroup // flush goroutines
}

// do runs c.cmd in the next pipeline and waits for its reply or the end of
// ctx, whichever comes first. The returned error is the command's or ctx's.
func (b *batcher) do(ctx context.Context, c *call) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.cmd.SetErr(redis.ErrClosed)
		return redis.ErrClosed
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
		return c.cmd.Err()
	case <-ctx.Done():
		c.abandoned.Store(true)
		return ctx.Err()
	}
}

// flush sends batches until the queue is empty.
func (b *batcher) flush() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.flushers--
			b.mu.Unlock()
			return
		}
		batch := b.queue
		if len(batch) > maxBatch {
			batch = batch[:maxBatch:maxBatch]
			b.queue = append([]*call(nil), b.queue[maxBatch:]...)
		} else {
			b.queue = nil
		}
		b.mu.Unlock()
		b.send(batch)
	}
}

// send runs one pipeline. Its context ends at the latest deadline of the
// calls in it: each caller stops waiting at its own deadline anyway, and the
// others must not fail early because of it.
func (b *batcher) send(batch []*call) {
	live := batch[:0]
	var deadline time.Time
	for _, c := range batch {
		if c.abandoned.Load() {
			continue // its caller has returned; nobody wants the reply
		}
		live = append(live, c)
		if c.deadline.After(deadline) {
			deadline = c.deadline
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	b.exec(ctx, live)
	// Scripts are cached per server and lost when it restarts (or a Cluster
	// node is added): send those again with the source, which loads them.
	var retry []*call
	for _, c := range live {
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			args := c.cmd.Args()
			args[0], args[1] = "eval", c.src
			c.cmd = redis.NewCmd(ctx, args...)
			retry = append(retry, c)
		}
	}
	if len(retry) > 0 {
		b.exec(ctx, retry)
	}
	for _, c := range live {
		c.done <- struct{}{}
	}
}

// exec sends cmds as one pipeline; each command gets its own reply or error.
func (b *batcher) exec(ctx context.Context, calls []*call) {
	if len(calls) == 1 {
		_ = b.client.Process(ctx, calls[0].cmd)
		return
	}
	pipe := b.client.Pipeline()
	for _, c := range calls {
		_ = pipe.Process(ctx, c.cmd)
	}
	_, _ = pipe.Exec(ctx) // errors are on the commands
}

// close stops new flushers and waits for running ones, which end once the
// client is closed under them.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}
