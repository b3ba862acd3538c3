package peering

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// Lock wait with peering (issue 15): a forwarded Get or GetExclusive that
// finds the session locked waits at the owner, where the releases happen
// (Config.Waits, shared with the owner's front end, which wakes it for its
// own clients' releases; runOp wakes it for forwarded ones). The forwarding
// gateway does not wait again, and allows RequestTimeout plus the wait.

// opWait is the extra time a forwarded op may take because it waits.
func (n *Node) opWait(op locking.Op) time.Duration {
	if op == locking.OpGet || op == locking.OpGetExclusive {
		return n.cfg.Waits.Duration()
	}
	return 0
}

// runOp runs a forwarded operation on key here, with the lock rules, the
// local store and clock, waiting for the lock when the wait is on. Each run
// enters the current view and checks ownership again, so a wait never holds
// a view change up; errNotOwner means the key moved (nothing was changed:
// only runs that answered 423 came before). It returns the last run's
// result and the view it ran in.
//
// A watched operation (cancel.go) that its sender gives up while it waits is
// skipped like a waiter whose client left: it takes no lock and returns
// locking.ErrClientGone.
func (n *Node) runOp(ctx context.Context, key string, req *locking.Request, watch *watchKey) (locking.Result, *View, error) {
	var res locking.Result
	var view *View
	try := func() (int, error) {
		vs := n.enter()
		view = vs.v
		if n.owner(vs, key) != n.self {
			vs.gate.RUnlock()
			return 0, errNotOwner
		}
		now := n.cfg.Now()
		released := false
		err := n.applyLocal(ctx, vs, key, func(cur *backends.Record) backends.Change {
			r, ch := locking.Decide(cur, req, now)
			r.Body = bytes.Clone(r.Body) // it aliases the record
			res, released = r, locking.Releases(cur, ch)
			return ch
		})
		vs.gate.RUnlock()
		if err == nil && released {
			n.cfg.Waits.Notify(key)
		}
		return res.Status, err
	}
	status, err := try()
	if err != nil || !n.cfg.Waits.Waits(req.Op, status) {
		return res, view, err
	}
	// A planned restart ends the wait early: the last answer (423) stands.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.rs.waits, cancel)()
	var gone func() bool
	if watch != nil {
		var end func()
		wctx, end = n.watches.register(wctx, *watch)
		defer end()
		gone = func() bool { return errors.Is(context.Cause(wctx), errSenderGone) }
	}
	err = n.cfg.Waits.Await(wctx, key, req.Op, try, gone)
	if gone != nil && gone() && err != nil {
		return res, view, locking.ErrClientGone
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil // the last answer stands
	}
	return res, view, err
}
