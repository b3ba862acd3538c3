package peering

import (
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
// result, encoded for the answer (encodeResult), and the view it ran in.
//
// A Get or GetExclusive arriving while others wait here for the key's lock
// queues behind them without running first, as at a front end.
//
// A watched operation (cancel.go) that its sender gives up while it waits is
// skipped like a waiter whose client left: it takes no lock and returns
// locking.ErrClientGone.
func (n *Node) runOp(ctx context.Context, key string, req *locking.Request, watch *watchKey) ([]byte, *View, error) {
	// One allocation for what the closures below share, rather than one
	// for each variable they capture.
	var st struct {
		reply    []byte
		status   int
		view     *View
		enc      []byte // view, encoded (viewState.enc)
		now      time.Time
		released bool
	}
	decide := func(cur *backends.Record) backends.Change {
		r, ch := locking.Decide(cur, req, st.now)
		// Encoded here, while the body (which aliases the record) is
		// valid: one copy of it, into the answer.
		st.reply, st.status, st.released = encodeResult(st.enc, &r), r.Status, locking.Releases(cur, ch)
		return ch
	}
	try := func() (int, error) {
		vs := n.enter()
		st.view, st.enc = vs.v, vs.enc
		if n.owner(vs, key) != n.self {
			vs.gate.RUnlock()
			return 0, errNotOwner
		}
		st.now, st.released = n.cfg.Now(), false
		err := n.applyLocal(ctx, vs, key, decide)
		vs.gate.RUnlock()
		if err == nil && st.released {
			n.cfg.Waits.Notify(key)
		}
		return st.status, err
	}
	w := n.cfg.Waits
	if (req.Op == locking.OpGet || req.Op == locking.OpGetExclusive) && w.WaitsFor(key) {
		// Others wait for this lock here: queue behind them without
		// running first (Waiters.AwaitBehind).
		if queued, err := n.await(ctx, key, req.Op, watch, try, true); queued {
			if st.view == nil { // given up before it ran
				st.view = n.view.Load().v
			}
			return st.reply, st.view, err
		}
	}
	status, err := try()
	if err != nil || !w.Waits(req.Op, status) {
		return st.reply, st.view, err
	}
	_, err = n.await(ctx, key, req.Op, watch, try, false)
	return st.reply, st.view, err
}

// await waits for key's lock (Waiters.Await, or with behind AwaitBehind,
// whose report it returns) in a context that a planned restart ends (the
// last answer, a 423, stands) and, for a watched operation, its sender's
// giving up (locking.ErrClientGone).
func (n *Node) await(ctx context.Context, key string, op locking.Op, watch *watchKey, try func() (int, error), behind bool) (bool, error) {
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
	queued, err := true, error(nil)
	if behind {
		queued, err = n.cfg.Waits.AwaitBehind(wctx, key, op, try, gone)
	} else {
		err = n.cfg.Waits.Await(wctx, key, op, try, gone)
	}
	if gone != nil && gone() && err != nil {
		return queued, locking.ErrClientGone
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil // the last answer stands
	}
	return queued, err
}
