package peering

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/peering/link"
)

// Planned restarts (peering.restart_grace): a durable gateway that stops for
// a restart says so in its view (View.Restarts); the others hold requests
// for its keys until it is back, for up to restart_grace, instead of failing
// them. Its entry, its range and its version do not change, so nothing moves
// and votes against it keep counting (see doc.go).

// restarts is the node's planned-restart bookkeeping.
type restarts struct {
	announced atomic.Bool  // AnnounceRestart ran: forwarded operations are refused
	inflight  atomic.Int64 // forwarded operations running here
	// waits is cancelled by AnnounceRestart (and Close): forwarded lock
	// waits end early, their last answer (423) standing.
	waits     context.Context
	stopWaits context.CancelFunc
}

// restartLinger lets the answers of the last forwarded operations leave
// before the links close.
const restartLinger = 50 * time.Millisecond

// Durable reports whether the store keeps its records across a restart (bbolt,
// badger): such a gateway announces a restart on a planned stop instead of
// draining.
func (n *Node) Durable() bool {
	_, mem := n.store.(*memstore.Store)
	return !mem
}

// AnnounceRestart is a durable gateway's planned stop before a restart: it
// tells the other members, which hold requests for its keys until it is back
// (for up to peering.restart_grace) instead of failing them; it refuses
// forwarded operations from now on (their senders hold them too), ends the
// lock waits of forwarded requests, and returns once the forwarded
// operations already running here have answered (bounded by the request
// timeout plus the lock wait). Nothing moves. Close the node afterwards.
func (n *Node) AnnounceRestart(ctx context.Context) {
	n.mu.Lock()
	n.rs.announced.Store(true) // before the view: no adopt takes it back
	vs := n.adoptLocked(n.view.Load().v.WithRestart(n.self, false))
	n.mu.Unlock()
	n.rs.stopWaits()
	n.log.Info("restart announced: the other members hold requests for this gateway's sessions until it is back, nothing moves",
		"restart_grace", n.cfg.RestartGrace, "view", vs.v.Format(n.members))
	n.callAll(ctx, kindView, appendView(nil, vs.v))
	deadline := time.Now().Add(n.cfg.RequestTimeout + n.cfg.Waits.Duration())
	for n.rs.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(restartLinger)
}

// restartTimes carries the times at which this node learned of each member's
// restart and return from prev to v, stamping the ones v changes. A member
// that joins (owns keys in v and did not in prev) counts as back too: for a
// moment after it takes its range it may not have its lease yet, and the
// requests forwarded to it are tried again (retryRestarted) instead of
// failing.
func restartTimes(v *View, prev *viewState) (at, back []time.Time) {
	at, back = make([]time.Time, len(v.Entries)), make([]time.Time, len(v.Entries))
	if prev != nil {
		copy(at, prev.restartAt)
		copy(back, prev.backAt)
	}
	now := time.Now()
	for i := range v.Entries {
		var was uint32
		if prev != nil {
			was = prev.v.restart(i)
		}
		switch r := v.restart(i); {
		case r == was:
		case r%2 == 1:
			at[i] = now
		case was%2 == 1:
			back[i] = now
		}
		if prev != nil && v.Owns(i) && !prev.v.Owns(i) {
			back[i] = now // joined
		}
	}
	return at, back
}

// backLocked reports whether merged says this running member is restarting
// although it did not announce it in this process: a peer kept the marker of
// its previous run. n.mu is held.
func (n *Node) backLocked(merged *View) bool {
	return merged.Restarting(n.self) && n.started.Load() && !n.rs.announced.Load() && n.ctx.Err() == nil
}

// tellBack sends vs, which says this member is back, to the others.
func (n *Node) tellBack(vs *viewState) {
	n.log.Info("back from a restart: the other members release the requests they held for this gateway's sessions",
		"view", vs.v.Format(n.members))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		sent := time.Now()
		n.callAllThen(n.ctx, kindView, appendView(nil, vs.v), func(i int) { n.renewLease(i, sent) })
	}()
}

// comeBack is called once Start has finished: if the farm's view says this
// member is restarting, it says it is back.
func (n *Node) comeBack() {
	n.mu.Lock()
	cur := n.view.Load()
	if !cur.v.Restarting(n.self) || n.rs.announced.Load() {
		n.mu.Unlock()
		return
	}
	vs := n.adoptLocked(cur.v.WithRestart(n.self, true))
	n.mu.Unlock()
	n.tellBack(vs)
}

// awaitRestart holds a request for a key of owner while owner is stopped for
// a restart it announced, until it is back or restart_grace has passed since
// this gateway learned of the restart; then the request fails as one for an
// unreachable owner does. It reports whether it held the request (the caller
// then looks at the view again). Past the grace it does not hold.
func (n *Node) awaitRestart(ctx context.Context, owner int) (held bool, err error) {
	for {
		vs := n.view.Load()
		if !vs.v.Restarting(owner) {
			return held, nil
		}
		left := time.Until(vs.restartAt[owner].Add(n.cfg.RestartGrace))
		if left <= 0 {
			if held {
				return true, fmt.Errorf("%w: %s announced a restart and was not back within peering.restart_grace (%v)",
					ErrUnreachable, n.members[owner].ID, n.cfg.RestartGrace)
			}
			return false, nil
		}
		if !held {
			held = true
			n.stats.Held.Add(1)
		}
		t := time.NewTimer(left)
		select {
		case <-vs.changed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true, fmt.Errorf("%w: held while %s restarted: %w", ErrUnreachable, n.members[owner].ID, ctx.Err())
		}
		t.Stop()
	}
}

// retryRestarted decides whether a forward to owner that failed with err is
// tried again: only when it certainly did not run there (the link was down,
// or the owner was not serving), and owner is restarting within its grace
// (awaitRestart then holds it) or has just come back or joined (its link
// being redialled, its lease being renewed): within the grace, or a request
// timeout after its return, it waits a moment and says yes.
func (n *Node) retryRestarted(ctx context.Context, owner int, err error) bool {
	if !errors.Is(err, link.ErrNotSent) && !errors.Is(err, errNotServing) {
		return false
	}
	vs := n.view.Load()
	now := time.Now()
	grace := vs.restartAt[owner].Add(n.cfg.RestartGrace)
	if vs.v.Restarting(owner) {
		return now.Before(grace)
	}
	if vs.backAt[owner].IsZero() {
		return false
	}
	until := vs.backAt[owner].Add(n.cfg.RequestTimeout)
	if !vs.restartAt[owner].IsZero() && grace.After(until) {
		until = grace
	}
	if !now.Before(until) {
		return false
	}
	t := time.NewTimer(min(until.Sub(now), 20*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
