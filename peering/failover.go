package peering

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

// Automatic failover (3 or more members): votes, leases, declarations and
// the rejoin of a member that was declared down. See doc.go for the argument.

// autoChangeEvery damps automatic declarations: a gateway declares at most
// one member down per this long.
const autoChangeEvery = 10 * time.Second

// failover is the node's liveness bookkeeping. Times are from time.Now
// (monotonic), never from Config.Now, which tests may freeze.
type failover struct {
	auto     bool // 3 or more members
	majority int

	// mu guards the slices below. It also orders a vote against the answers
	// this node gives: hear (under mu) happens before a request's answer is
	// encoded, and a vote is cast (published) under mu after checking heard,
	// so an answer either shows the vote or was encoded from a request that
	// arrived less than dead_after before any later vote.
	mu        sync.Mutex
	heard     []time.Time // last request or answer received from each member
	leaseFrom []time.Time // per member: send time of its latest answer without a vote against us
	lastAuto  time.Time   // last automatic declaration by this gateway

	leaseOK   atomic.Bool
	reasonMu  sync.Mutex // guards reason
	reason    string     // why this gateway is not serving ("" when it is)
	downKick  chan struct{}
	leaseKick []chan struct{} // per member: ask now (a link to it just came up)
	startedAt time.Time
}

func (n *Node) initFailover() {
	f := &n.fo
	f.auto = len(n.members) >= 3
	f.majority = len(n.members)/2 + 1
	f.heard = make([]time.Time, len(n.members))
	f.leaseFrom = make([]time.Time, len(n.members))
	f.downKick = make(chan struct{}, 1)
	f.leaseKick = make([]chan struct{}, len(n.members))
	for i := range f.leaseKick {
		f.leaseKick[i] = make(chan struct{}, 1)
	}
	now := time.Now()
	f.startedAt = now
	for i := range f.heard {
		f.heard[i] = now // a member never heard is voted down dead_after after our start
	}
	f.leaseOK.Store(!f.auto)
}

// hear records that member i spoke to us.
func (n *Node) hear(i int) {
	if i < 0 || i == n.self {
		return
	}
	now := time.Now()
	n.fo.mu.Lock()
	if now.After(n.fo.heard[i]) {
		n.fo.heard[i] = now
	}
	n.fo.mu.Unlock()
}

// leaseHolders counts the members (this one included) whose answer to a
// lease round sent within the lease showed no vote against this member.
func (n *Node) leaseHolders(now time.Time) int {
	c := 1
	n.fo.mu.Lock()
	for i, t := range n.fo.leaseFrom {
		if i != n.self && !t.IsZero() && now.Sub(t) < n.cfg.Lease {
			c++
		}
	}
	n.fo.mu.Unlock()
	return c
}

// hasLease reports whether this gateway may serve now.
func (n *Node) hasLease() bool {
	if !n.fo.auto {
		return true
	}
	ok := n.leaseHolders(time.Now()) >= n.fo.majority
	if was := n.fo.leaseOK.Swap(ok); was != ok {
		if ok {
			n.log.Info("lease regained: a majority of members answer; serving", "lease", n.cfg.Lease)
		} else {
			n.log.Warn("lease lost: fewer than a majority of members answered within the lease; not serving",
				"lease", n.cfg.Lease, "majority", n.fo.majority)
		}
	}
	return ok
}

// canServe is checked before a local or forwarded operation runs, and again
// before its answer leaves this gateway.
func (n *Node) canServe() error {
	if !n.serving.Load() {
		return fmt.Errorf("%w: %s", errNotServing, n.notServingReason())
	}
	if !n.hasLease() {
		return fmt.Errorf("%w: no lease (fewer than %d of %d members answered within %v)", errNotServing,
			n.fo.majority, len(n.members), n.cfg.Lease)
	}
	return nil
}

func (n *Node) setReason(r string) {
	n.fo.reasonMu.Lock()
	n.fo.reason = r
	n.fo.reasonMu.Unlock()
}

func (n *Node) notServingReason() string {
	n.fo.reasonMu.Lock()
	defer n.fo.reasonMu.Unlock()
	if n.fo.reason == "" {
		return "starting or stopped"
	}
	return n.fo.reason
}

// leaseTick is how often each member is asked for its view.
func (n *Node) leaseTick() time.Duration {
	return min(max(n.cfg.Lease/5, 20*time.Millisecond), 500*time.Millisecond)
}

// renewLease counts an answer from member i to a question sent at sent
// towards the lease, unless i (whose view has just been merged) votes this
// member down.
func (n *Node) renewLease(i int, sent time.Time) {
	if n.view.Load().v.VotedDown(i, n.self) {
		return
	}
	n.fo.mu.Lock()
	if sent.After(n.fo.leaseFrom[i]) {
		n.fo.leaseFrom[i] = sent
	}
	n.fo.mu.Unlock()
}

// leaseLoop asks member i for its view every tick. An answer that shows no
// vote against this member's current version extends the lease from i to
// the time the question was sent.
func (n *Node) leaseLoop(i int) {
	defer n.wg.Done()
	t := time.NewTicker(n.leaseTick())
	defer t.Stop()
	for {
		sent := time.Now()
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Lease)
		_, _, err := n.call(ctx, i, kindView, appendView(nil, n.view.Load().v))
		cancel()
		if err == nil {
			n.renewLease(i, sent)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.fo.leaseKick[i]:
		}
	}
}

// kickLease makes the lease loop of member i ask at once.
func (n *Node) kickLease(i int) {
	if i < 0 || i == n.self {
		return
	}
	select {
	case n.fo.leaseKick[i] <- struct{}{}:
	default:
	}
}

// monitor casts this member's votes, declares members down when a majority
// voted, and notices when this member lost its lease.
func (n *Node) monitor() {
	defer n.wg.Done()
	t := time.NewTicker(n.leaseTick())
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.hasLease() // logs transitions
		n.vote()
		n.declare()
	}
}

// vote votes down each active member not heard from for dead_after.
func (n *Node) vote() {
	now := time.Now()
	n.fo.mu.Lock()
	defer n.fo.mu.Unlock()
	var changed *viewState
	for x := range n.members {
		if x == n.self {
			continue
		}
		silent := now.Sub(n.fo.heard[x])
		n.mu.Lock()
		cur := n.view.Load().v
		if cur.Entries[x].State != Active || cur.VotedDown(n.self, x) || silent < n.cfg.DeadAfter {
			n.mu.Unlock()
			continue
		}
		changed = n.adoptLocked(cur.WithVote(n.self, x))
		n.mu.Unlock()
		n.log.Warn("voting member down: nothing heard from it", "member", n.members[x].ID,
			"silent", silent.Round(time.Millisecond), "dead_after", n.cfg.DeadAfter,
			"votes", changed.v.VotesAgainst(x), "majority", n.fo.majority)
	}
	if changed != nil {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.callAll(n.ctx, kindView, appendView(nil, n.view.Load().v)) }()
	}
}

// declare sets a member down at its version+1 once a majority voted it down
// at its current version, while this gateway holds a lease.
func (n *Node) declare() {
	if !n.hasLease() || n.view.Load().v.Entries[n.self].State != Active {
		return
	}
	now := time.Now()
	n.fo.mu.Lock()
	damped := !n.fo.lastAuto.IsZero() && now.Sub(n.fo.lastAuto) < autoChangeEvery
	n.fo.mu.Unlock()
	for x := range n.members {
		n.mu.Lock()
		cur := n.view.Load().v
		votes := cur.VotesAgainst(x)
		if x == n.self || cur.Entries[x].State != Active || votes < n.fo.majority {
			n.mu.Unlock()
			continue
		}
		if damped {
			n.mu.Unlock()
			n.log.Info("member voted down by a majority; declaration damped", "member", n.members[x].ID)
			return
		}
		vs := n.adoptLocked(cur.With(x, Down))
		n.mu.Unlock()
		n.fo.mu.Lock()
		n.fo.lastAuto = now
		n.fo.mu.Unlock()
		n.log.Warn("member declared down: a majority voted; its range takes new sessions", "member", n.members[x].ID,
			"votes", votes, "view", vs.v.Format(n.members))
		n.callAll(n.ctx, kindView, appendView(nil, n.view.Load().v))
		return
	}
}

// selfDown is called (n.mu held) when the published view says this member
// was declared down: it stops serving at once and the rejoin worker takes it
// from there.
func (n *Node) selfDown() {
	if !n.started.Load() {
		return // Start decides
	}
	n.serving.Store(false)
	n.setReason("declared down by the farm; rejoining as a new incarnation")
	select {
	case n.fo.downKick <- struct{}{}:
	default:
	}
}

// rejoinWorker brings a member that was declared down while running back as
// a new incarnation: after it has held a lease for a while (damping), it sets
// its old records aside and bumps its entry to active; the others then hand
// its range back.
func (n *Node) rejoinWorker() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.fo.downKick:
		}
		n.log.Error("this gateway was declared down by the farm: it stops serving its old records")
		hold := n.cfg.DeadAfter / 2
		var since time.Time
		t := time.NewTicker(n.leaseTick())
		for {
			if n.view.Load().v.Entries[n.self].State != Down {
				break
			}
			if n.hasLease() {
				if since.IsZero() {
					since = time.Now()
				}
				if time.Since(since) >= hold {
					if err := n.rejoin(); err != nil {
						n.log.Error("cannot rejoin", "err", err)
						n.setReason("declared down; cannot rejoin: " + err.Error())
						since = time.Time{}
					} else {
						break
					}
				}
			} else {
				since = time.Time{}
			}
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		t.Stop()
	}
}

// rejoin sets the old records aside and rejoins as a new incarnation.
func (n *Node) rejoin() error {
	vs := n.view.Load()
	select {
	case <-vs.drained: // operations of older views are done
	case <-n.ctx.Done():
		return n.ctx.Err()
	}
	if _, err := n.setAside(n.ctx); err != nil {
		return err
	}
	n.serving.Store(true)
	n.setReason("")
	vs = n.change(Active)
	n.log.Info("rejoined the farm as a new incarnation", "view", vs.v.Format(n.members))
	return nil
}

// setAside removes every record from the store, first writing them to an
// export file in peering.aside_dir when it is set. Without it, a memory
// store's records are dropped (they are lost to the farm anyway) and a
// durable store's are kept, refusing the rejoin.
func (n *Node) setAside(ctx context.Context) (int, error) {
	var keys []string
	var w *bufio.Writer
	var f *os.File
	var path string
	if n.cfg.AsideDir != "" {
		if err := os.MkdirAll(n.cfg.AsideDir, 0o700); err != nil {
			return 0, fmt.Errorf("peering.aside_dir: %w", err)
		}
		path = filepath.Join(n.cfg.AsideDir, fmt.Sprintf("aside-%s-v%d-%s.records", n.Self(),
			n.view.Load().v.Entries[n.self].Version, time.Now().UTC().Format("20060102T150405.000")))
		var err error
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			return 0, fmt.Errorf("peering.aside_dir: %w", err)
		}
		defer f.Close()
		w = bufio.NewWriter(f)
	}
	now := n.cfg.Now()
	var buf []byte
	err := n.mover.Walk(ctx, func(key string, rec *backends.Record, exp time.Time) error {
		keys = append(keys, strings.Clone(key))
		if w != nil {
			buf = recordcodec.Append(buf[:0], key, rec, max(exp.Sub(now), time.Millisecond))
			_, err := w.Write(buf)
			return err
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		if f != nil {
			f.Close()
			os.Remove(path)
		}
		return 0, nil
	}
	if w == nil {
		if _, mem := n.store.(*memstore.Store); !mem {
			return 0, fmt.Errorf("the store holds %d records the farm has since replaced; set peering.aside_dir to set them aside, or move the data away", len(keys))
		}
	} else {
		if err := w.Flush(); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
	}
	errs := parallel(len(keys), func(i int) error {
		err := backends.Remove(ctx, n.store, keys[i])
		if errors.Is(err, backends.ErrNotFound) {
			return nil
		}
		return err
	})
	for _, e := range errs {
		if e != nil {
			return 0, e
		}
	}
	if path != "" {
		n.log.Warn("records of the old incarnation set aside for export; they will not be served", "records", len(keys), "file", path)
	} else {
		n.log.Warn("records of the old incarnation dropped (memory store)", "records", len(keys))
	}
	return len(keys), nil
}
