package peering

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

// Walk over the farm. The caller walks its own store, then asks every other
// active member for its records page by page (kindWalk). A member's store
// cannot resume a walk from a key (memory and bbolt walk hash shards, not an
// order), so each remote walk is an iterator at the member: a goroutine runs
// the store's Walk, keeps the records this member owns, and hands over one
// page at a time, at most one page ahead of the caller. The caller names its
// walk with a random ID and numbers its requests; the member serves them in
// order, drops the walk after the last page, on the caller's "stop", or after
// walkIdle without a request (the caller died or its fn stalled), and keeps
// at most maxWalks walks at once.

// ErrWalkUnsettled is returned by Walk, after every record it saw was passed
// to fn, when the walk may have missed records or passed one twice: the view
// changed during the walk, a member was leaving, or a member's hand-off was
// incomplete (records in transit are visible at neither or both ends). Walk
// again once hand-offs are complete; a caller content with a listing that
// may be approximate during a hand-off can accept it.
var ErrWalkUnsettled = errors.New("peering: the farm was handing records over during the walk (records in transit may be missing or listed twice); walk again when the hand-off is complete")

const (
	// walkIdle frees a member's iterator whose caller stopped asking.
	walkIdle = time.Minute
	// maxWalks bounds the walks a member serves at once (each holds up to
	// three pages: being filled, waiting, being sent).
	maxWalks = 8
)

// walkRegistry is a member's set of walks served for other members.
type walkRegistry struct {
	mu    sync.Mutex
	iters map[walkKey]*walkIter
	idle  time.Duration // tests shorten it; 0: walkIdle
}

type walkKey struct {
	from int
	id   uint64
}

// walkIter is one walk served for another member.
type walkIter struct {
	key    walkKey
	mu     sync.Mutex // one request at a time, in order
	next   uint32     // the page number expected next
	pages  chan walkPage
	done   chan struct{} // closed when the producer has returned
	cancel context.CancelFunc
	idle   *time.Timer
}

type walkPage struct {
	page *backends.WalkPage
	last bool
	err  error
}

// Walk calls fn for every live record of the farm: this gateway's records
// that it owns, then each other active member's, with deadlines on this
// gateway's clock (members send remaining lifetimes). fn runs on the
// caller's goroutine with no lock held, and may call the node's Peek and
// Install. A member that cannot be reached, or fails or is cut off mid-walk,
// stops the walk with an error naming it; a listing is never silently
// short. When the view changes during the walk or a hand-off is under way,
// Walk passes what it sees and returns ErrWalkUnsettled.
func (n *Node) Walk(ctx context.Context, fn func(key string, rec *backends.Record, expires time.Time) error) error {
	if err := n.canServe(); err != nil {
		return err
	}
	start := n.view.Load()
	settled := n.handedOff()
	for i := range n.members {
		if start.v.Entries[i].State == Leaving {
			settled = false // it still holds records it is handing over
		}
		if !start.v.Owns(i) {
			continue
		}
		if i == n.self {
			err := n.mover.Walk(ctx, func(key string, rec *backends.Record, exp time.Time) error {
				if n.owner(n.view.Load(), key) != n.self {
					return nil // handed over, or about to be
				}
				return fn(key, rec, exp)
			})
			if err != nil {
				return err
			}
			continue
		}
		s, err := n.walkMember(ctx, i, fn)
		if err != nil {
			return err
		}
		settled = settled && s
	}
	if err := n.canServe(); err != nil {
		return err
	}
	if !settled || n.view.Load().epoch != start.epoch || !n.handedOff() {
		return ErrWalkUnsettled
	}
	return nil
}

// walkMember passes member i's records to fn, page by page, and reports
// whether its hand-off was complete at every page.
func (n *Node) walkMember(ctx context.Context, i int, fn func(key string, rec *backends.Record, expires time.Time) error) (settled bool, err error) {
	id := rand.Uint64()
	settled = true
	for seq := uint32(0); ; seq++ {
		if err := ctx.Err(); err != nil {
			n.stopWalk(i, id)
			return false, err
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		kind, body, err := n.call(cctx, i, kindWalk, appendWalkReq(appendView(nil, n.view.Load().v), id, seq, 0))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("peering: walking member %s: %w", n.members[i].ID, err)
		}
		if kind != kindWalkPage {
			return false, fmt.Errorf("peering: walking member %s: %w", n.members[i].ID, n.moverFailure(i, "walking", kind, body))
		}
		flags, recs, err := decodeWalkPage(body)
		if err != nil {
			return false, fmt.Errorf("peering: walking member %s: answer: %w", n.members[i].ID, err)
		}
		settled = settled && flags&pageSettled != 0
		now := n.cfg.Now()
		for j := range recs {
			r := &recs[j]
			if err := fn(r.key, &r.rec, now.Add(r.remaining)); err != nil {
				if flags&pageLast == 0 {
					n.stopWalk(i, id)
				}
				return false, err
			}
		}
		if flags&pageLast != 0 {
			return settled, nil
		}
	}
}

// handedOff reports whether this member holds nothing it does not own: its
// hand-off for a view with the current epoch is complete (a view that
// differs only in votes moves nothing).
func (n *Node) handedOff() bool {
	d := n.selfDone.Load()
	return d != nil && d.epoch == n.view.Load().epoch
}

// stopWalk tells member i to drop walk id now (best effort: otherwise it
// goes after walkIdle).
func (n *Node) stopWalk(i int, id uint64) {
	ctx, cancel := context.WithTimeout(n.ctx, min(n.cfg.RequestTimeout, time.Second))
	defer cancel()
	n.call(ctx, i, kindWalk, appendWalkReq(appendView(nil, n.view.Load().v), id, 0, walkStop))
}

// serveWalk answers kindWalk from member src: the next page of a walk,
// started by page 0.
func (n *Node) serveWalk(ctx context.Context, src int, b []byte) (byte, []byte) {
	id, seq, flags, err := decodeWalkReq(b)
	if err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed walk request")
	}
	r := &n.walks
	k := walkKey{from: src, id: id}
	if flags&walkStop != 0 {
		r.drop(k, nil)
		return kindView, appendView(nil, n.view.Load().v)
	}
	if err := n.canServe(); err != nil {
		r.drop(k, nil)
		return kindFailed, encodeFailed(n.view.Load().v, failNotServing, err.Error())
	}
	it, err := n.walkIter(k, seq)
	if err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, err.Error())
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if !it.idle.Stop() {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "walk expired")
	}
	if seq != it.next {
		r.drop(k, it)
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "walk out of step")
	}
	var p walkPage
	select {
	case p = <-it.pages:
	case <-it.done:
		select {
		case p = <-it.pages:
		default:
			r.drop(k, it)
			return kindFailed, encodeFailed(n.view.Load().v, failOther, "walk ended")
		}
	case <-ctx.Done():
		r.drop(k, it)
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "the store did not fill a page in time")
	}
	if p.err != nil {
		r.drop(k, it)
		n.log.Warn("walk for a peer failed in the store", "member", n.members[src].ID, "err", p.err)
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "store: "+p.err.Error())
	}
	vs := n.view.Load()
	var pf byte
	if p.last {
		pf |= pageLast
		r.drop(k, it)
	} else {
		it.next++
		it.idle.Reset(r.idleFor())
	}
	if n.handedOff() {
		pf |= pageSettled
	}
	out, at := walkPageHead(appendView(nil, vs.v), pf)
	count := uint32(0)
	now := n.cfg.Now()
	p.page.Emit(func(key string, rec *backends.Record, exp time.Time) error {
		if rem := min(exp.Sub(now), maxRemaining); rem > 0 {
			out = recordcodec.Append(out, key, rec, rem)
			count++
		}
		return nil
	})
	return kindWalkPage, finishWalkPage(out, at, count)
}

func (r *walkRegistry) idleFor() time.Duration {
	if r.idle > 0 {
		return r.idle
	}
	return walkIdle
}

// walkIter returns walk k, starting it for page 0.
func (n *Node) walkIter(k walkKey, seq uint32) (*walkIter, error) {
	r := &n.walks
	r.mu.Lock()
	defer r.mu.Unlock()
	if it := r.iters[k]; it != nil {
		return it, nil
	}
	if seq != 0 {
		return nil, fmt.Errorf("no such walk (dropped after %v without a request, or this member restarted)", r.idleFor())
	}
	if len(r.iters) >= maxWalks {
		return nil, fmt.Errorf("too many walks in progress (%d); try again later", maxWalks)
	}
	if n.ctx.Err() != nil {
		return nil, errors.New("closing")
	}
	if r.iters == nil {
		r.iters = map[walkKey]*walkIter{}
	}
	ctx, cancel := context.WithCancel(n.ctx)
	it := &walkIter{key: k, pages: make(chan walkPage, 1), done: make(chan struct{}), cancel: cancel}
	it.idle = time.AfterFunc(r.idleFor(), func() { r.drop(k, it) })
	r.iters[k] = it
	n.wg.Add(1)
	go n.produceWalk(ctx, it)
	return it, nil
}

// drop forgets walk k (only if it is still it, when it is given) and stops
// its producer.
func (r *walkRegistry) drop(k walkKey, it *walkIter) {
	r.mu.Lock()
	cur := r.iters[k]
	if cur != nil && (it == nil || cur == it) {
		delete(r.iters, k)
	} else {
		cur = nil
	}
	r.mu.Unlock()
	if cur != nil {
		cur.idle.Stop()
		cur.cancel()
	}
}

// count reports how many walks this member is serving (tests).
func (r *walkRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.iters)
}

// produceWalk runs the store's walk for it, keeping the records this member
// owns (in its view at each record), one page ahead of the caller.
func (n *Node) produceWalk(ctx context.Context, it *walkIter) {
	defer n.wg.Done()
	defer close(it.done)
	page := new(backends.WalkPage)
	err := n.mover.Walk(ctx, func(key string, rec *backends.Record, exp time.Time) error {
		if n.owner(n.view.Load(), key) != n.self {
			return nil
		}
		page.Add(strings.Clone(key), rec, exp)
		if !page.Full() {
			return nil
		}
		select {
		case it.pages <- walkPage{page: page}:
		case <-ctx.Done():
			return ctx.Err()
		}
		page = new(backends.WalkPage)
		return nil
	})
	select {
	case it.pages <- walkPage{page: page, last: true, err: err}:
	case <-ctx.Done():
	}
}
