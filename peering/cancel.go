package peering

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// A forwarded wait whose client leaves (issue 15): a Get or GetExclusive
// forwarded while the lock wait is on waits at the owner, where the web
// server's connection cannot be seen. The front end passes its close check
// in the context (locking.WithClientGone); while the forward is out, it is
// looked at every clientWatchEvery, and when the client has gone the
// forward gives up and tells the owner, which wakes the waiter, skips it
// (it takes no lock) and answers nobody.
//
// The operation goes out as kindOpWatched, kindOp with an ID the sender may
// cancel by (kindCancelOp). A member from before this change answers the
// unknown kind with failOther; the sender then sends kindOp to it from then
// on, as before (its waiters cannot be cancelled).

const (
	kindOpWatched byte = 6 // u64 ID, then kindOp's payload -> as kindOp
	kindCancelOp  byte = 7 // u64 ID of the sender's kindOpWatched to give up -> view
)

// errSenderGone is the cause of a watched operation's cancellation.
var errSenderGone = errors.New("peering: the forwarding gateway's client has gone")

// watchKey names a watched operation: its sender and the sender's ID.
type watchKey struct {
	from int
	id   uint64
}

// watchRegistry holds the watched operations waiting here, and cancels that
// arrived before their operation waited (or after it finished).
type watchRegistry struct {
	mu    sync.Mutex
	ops   map[watchKey]context.CancelCauseFunc
	early map[watchKey]time.Time
}

// earlyKept bounds how long an unmatched cancel is kept: longer than any
// operation can take (request_timeout plus the wait, at most 5 s).
const earlyKept = time.Minute

// register makes ctx cancellable by k's sender; the returned func ends that.
func (r *watchRegistry) register(ctx context.Context, k watchKey) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.early[k]; ok {
		delete(r.early, k)
		cancel(errSenderGone)
		return ctx, func() { cancel(nil) }
	}
	if r.ops == nil {
		r.ops = map[watchKey]context.CancelCauseFunc{}
	}
	r.ops[k] = cancel
	return ctx, func() {
		r.mu.Lock()
		delete(r.ops, k)
		r.mu.Unlock()
		cancel(nil)
	}
}

// cancel gives k's operation up, now or when it registers.
func (r *watchRegistry) cancel(k watchKey, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.ops[k]; ok {
		delete(r.ops, k)
		c(errSenderGone)
		return
	}
	if r.early == nil {
		r.early = map[watchKey]time.Time{}
	}
	for ek, at := range r.early {
		if now.Sub(at) > earlyKept {
			delete(r.early, ek)
		}
	}
	r.early[k] = now
}

// clientWatchEvery is how often a forwarded request's client is looked at
// while the request may wait at the owner.
const clientWatchEvery = 20 * time.Millisecond

// watchable tells whether a forward of req may be given up when its client
// leaves: a Get or GetExclusive that may wait at the owner, whose context
// carries the client's close check. It returns the check.
func (n *Node) watchable(ctx context.Context, owner int, req *locking.Request) func() bool {
	if !n.cfg.Waits.Enabled() || (req.Op != locking.OpGet && req.Op != locking.OpGetExclusive) ||
		n.unwatched[owner].Load() {
		return nil
	}
	return locking.ClientGoneFrom(ctx)
}

// watchClient returns ctx cancelled with cause locking.ErrClientGone once
// gone reports true, looked at every clientWatchEvery; stop ends the watch.
func watchClient(ctx context.Context, gone func() bool) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	var mu sync.Mutex // orders the timer's runs with stop
	done := false
	mu.Lock()
	var t *time.Timer
	t = time.AfterFunc(clientWatchEvery, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		if gone() {
			cancel(locking.ErrClientGone)
			return
		}
		t.Reset(clientWatchEvery)
	})
	mu.Unlock()
	return ctx, func() {
		mu.Lock()
		done = true
		t.Stop()
		mu.Unlock()
		cancel(nil)
	}
}

// encodeWatchedOp is kindOpWatched's payload: the view, the ID, then what
// encodeOp writes after the view. view is encoded, as for encodeOp.
func encodeWatchedOp(view []byte, id uint64, key string, req *locking.Request) []byte {
	b := make([]byte, 0, len(view)+8+1+3*5+4+len(key)+len(req.Body))
	b = append(b, view...)
	b = binary.BigEndian.AppendUint64(b, id)
	return appendOp(b, key, req)
}

// sendCancel tells owner to give up the watched operation id, in the
// background: the web server is gone, nobody waits for this.
func (n *Node) sendCancel(owner int, id uint64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
		defer cancel()
		b := appendView(nil, n.view.Load().v)
		b = binary.BigEndian.AppendUint64(b, id)
		n.call(ctx, owner, kindCancelOp, b) // best effort: a lost cancel leaves the old behaviour
	}()
}

// serveCancel handles kindCancelOp from src.
func (n *Node) serveCancel(src int, b []byte) (byte, []byte) {
	if len(b) != 8 {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed cancel")
	}
	n.watches.cancel(watchKey{src, binary.BigEndian.Uint64(b)}, time.Now())
	return kindView, appendView(nil, n.view.Load().v)
}

// clientGone tells whether ctx was cancelled because the web server left.
func clientGone(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), locking.ErrClientGone)
}
