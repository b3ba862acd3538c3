package peering

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// The farm-wide Mover: the operators' API lists, inspects, exports and
// imports sessions through a backends.Mover, and with peering a gateway
// answers for the whole farm. Peek and Install run at the key's owner, as an
// operation does (local under the view gate and the key's lock, after a pull
// if a hand-off into this gateway is incomplete; else forwarded with one more
// try after "not owner"); Walk visits every member (walk.go).

var _ backends.Mover = (*Node)(nil)

// Peek returns a copy of the live record under key, from its owner, without
// sliding its deadline (on this gateway's clock: the owner sends the
// remaining lifetime). ErrNotFound only when the owner answered that it has
// no such record; a member that could not be asked gives another error.
func (n *Node) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	var (
		rec backends.Record
		exp time.Time
	)
	err := n.atOwner(ctx, key, func() error {
		var err error
		rec, exp, err = n.mover.Peek(ctx, key)
		return err
	}, func(ctx context.Context, vs *viewState, owner int) error {
		kind, body, err := n.call(ctx, owner, kindPeek, appendKey(appendView(nil, vs.v), key))
		if err != nil {
			return err
		}
		switch kind {
		case kindPeeked:
		case kindNotOwner:
			return fmt.Errorf("%w (%s)", errNotOwner, n.members[owner].ID)
		default:
			return n.moverFailure(owner, "inspecting sessions", kind, body)
		}
		found, k, r, remaining, err := decodePeeked(body)
		if err != nil || (found && k != key) {
			return fmt.Errorf("peering: answer from %s: %w", n.members[owner].ID, errMalformed)
		}
		if !found {
			return backends.ErrNotFound
		}
		rec, exp = r, n.cfg.Now().Add(remaining) // r.Data is the answer's, ours
		return nil
	})
	if err != nil {
		return backends.Record{}, time.Time{}, err
	}
	return rec, exp, nil
}

// Install stores rec under key at its owner with the deadline expires (on
// this gateway's clock; the owner gets the remaining lifetime). Its results
// and errors are the owner's store's (ErrFull and ErrTooLarge keep their
// identity across the link); an owner that could not be asked gives
// ErrUnreachable, and the record may or may not have been stored if the
// link was lost after sending.
func (n *Node) Install(ctx context.Context, key string, rec backends.Record, expires time.Time, replace bool) (bool, error) {
	var stored bool
	err := n.atOwner(ctx, key, func() error {
		var err error
		stored, err = n.mover.Install(ctx, key, rec, expires, replace)
		if err == nil && stored {
			n.cfg.Waits.Notify(key) // a replaced record may have dropped its lock
		}
		return err
	}, func(ctx context.Context, vs *viewState, owner int) error {
		remaining := min(expires.Sub(n.cfg.Now()), maxRemaining)
		if remaining <= 0 {
			stored = false // a deadline already past stores nothing
			return nil
		}
		kind, body, err := n.call(ctx, owner, kindInstall, encodeInstall(vs.v, key, &rec, remaining, replace))
		if err != nil {
			return err
		}
		switch {
		case kind == kindInstalled && len(body) == 1 && body[0] <= 1:
			stored = body[0] == 1
			return nil
		case kind == kindNotOwner:
			return fmt.Errorf("%w (%s)", errNotOwner, n.members[owner].ID)
		}
		return n.moverFailure(owner, "importing sessions", kind, body)
	})
	return stored, err
}

// atOwner runs local under the key's owner's rules when this gateway owns
// key, else remote at the owner; a "not owner" answer (nothing ran) gets one
// more try with the merged view.
func (n *Node) atOwner(ctx context.Context, key string, local func() error, remote func(ctx context.Context, vs *viewState, owner int) error) error {
	if err := n.canServe(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		vs := n.enter()
		owner := n.owner(vs, key)
		var err error
		if owner == n.self {
			err = n.runLocal(ctx, vs, key, local)
			vs.gate.RUnlock()
			if err == nil {
				err = n.canServe() // cut off meanwhile: the answer may be stale
			}
		} else {
			vs.gate.RUnlock()
			if owner < 0 {
				return fmt.Errorf("%w: no member is active", ErrUnreachable)
			}
			rctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
			err = remote(rctx, vs, owner)
			cancel()
		}
		if errors.Is(err, errNotOwner) && attempt == 0 {
			n.stats.NotOwner.Add(1)
			continue
		}
		return err
	}
}

// runLocal runs fn on a key this gateway owns under vs (whose gate the caller
// holds), with the key's lock, after pulling the record from a member that
// may still hold it (as applyLocal does for an operation).
func (n *Node) runLocal(ctx context.Context, vs *viewState, key string, fn func() error) error {
	defer n.keyLocks.Lock(key).Unlock()
	if !vs.complete() {
		if err := n.pullIfMissing(ctx, vs, key); err != nil {
			return err
		}
	}
	return fn()
}

// moverFailure is failure for the Mover's kinds, with a clear word for a
// member built before them.
func (n *Node) moverFailure(from int, what string, kind byte, body []byte) error {
	if kind == kindFailed && len(body) >= 1 && body[0] == failOther && string(body[1:]) == "unknown request kind" {
		return fmt.Errorf("peering: member %s does not support %s (an older version); upgrade it", n.members[from].ID, what)
	}
	return n.failure(from, kind, body)
}

// serveAtOwner runs fn for a peer when this gateway serves and owns key,
// under the view gate and the key's lock. A non-zero kind is the whole answer
// (fn did not run, or it ran but this gateway may no longer answer for the
// key); otherwise the caller answers with fn's outcome, err, under view v.
func (n *Node) serveAtOwner(ctx context.Context, key string, fn func() error) (kind byte, reply []byte, v *View, err error) {
	if err := n.canServe(); err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failNotServing, err.Error()), nil, nil
	}
	vs := n.enter()
	if n.owner(vs, key) != n.self {
		vs.gate.RUnlock()
		return kindNotOwner, appendView(nil, n.view.Load().v), nil, nil
	}
	err = n.runLocal(ctx, vs, key, fn)
	vs.gate.RUnlock()
	if errors.Is(err, errNotOwner) {
		return kindNotOwner, appendView(nil, n.view.Load().v), nil, nil
	}
	if lerr := n.canServe(); lerr != nil {
		return kindFailed, encodeFailed(vs.v, failOther, lerr.Error()), nil, nil
	}
	return 0, nil, vs.v, err
}

// servePeek answers kindPeek: a copy of the record if this gateway owns the key.
func (n *Node) servePeek(ctx context.Context, b []byte) (byte, []byte) {
	key, rest, ok := readKey(b)
	if !ok || len(rest) != 0 {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed peek")
	}
	var (
		rec backends.Record
		exp time.Time
	)
	kind, reply, v, err := n.serveAtOwner(ctx, key, func() error {
		var err error
		rec, exp, err = n.mover.Peek(ctx, key)
		return err
	})
	switch {
	case kind != 0:
		return kind, reply
	case errors.Is(err, backends.ErrNotFound):
		return kindPeeked, encodePeeked(v, key, nil, 0)
	case err != nil:
		return kindFailed, encodeFailed(v, failClass(err), err.Error())
	}
	remaining := min(exp.Sub(n.cfg.Now()), maxRemaining)
	if remaining <= 0 {
		return kindPeeked, encodePeeked(v, key, nil, 0)
	}
	return kindPeeked, encodePeeked(v, key, &rec, remaining)
}

// serveInstall answers kindInstall: store the record if this gateway owns the key.
func (n *Node) serveInstall(ctx context.Context, b []byte) (byte, []byte) {
	key, rec, remaining, replace, err := decodeInstall(b)
	if err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed install")
	}
	var stored bool
	kind, reply, v, err := n.serveAtOwner(ctx, key, func() error {
		var err error
		stored, err = n.mover.Install(ctx, key, rec, n.cfg.Now().Add(remaining), replace)
		if err == nil && stored {
			n.cfg.Waits.Notify(key)
		}
		return err
	})
	switch {
	case kind != 0:
		return kind, reply
	case err != nil:
		n.log.Warn("install for a peer failed in the store", "err", err)
		return kindFailed, encodeFailed(v, failClass(err), err.Error())
	}
	ans := byte(0)
	if stored {
		ans = 1
	}
	return kindInstalled, append(appendView(nil, v), ans)
}
