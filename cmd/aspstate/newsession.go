package main

import (
	"fmt"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering"
)

// newSession is what a web server sends for a user without a session: a
// GetExclusive that finds nothing (404), the insert of an uninitialized item
// (PUT ExtraFlags: 1), a GetExclusive that locks it (200, ActionFlags: 1),
// and the PUT of the page's state with the cookie. Each request is recorded
// under its op (the 404 under "miss"), and the whole sequence under
// "sequence". With --owner only sessions of that gateway are created.
func (w *worker) newSession() {
	cfg := &w.b.cfg
	var target string
	for {
		w.fresh++
		target = wire.ClientTarget(cfg.App, fmt.Sprintf("new%08x%04x%08x", w.b.runID, w.id, w.fresh))
		if cfg.Owner == "" || peering.OwnerAmong(wire.TargetKey(target), cfg.Members) == cfg.Owner {
			break
		}
	}
	t0 := time.Now()
	w.req = wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: cfg.Server, Exclusive: wire.ExclusiveAcquire}
	if ok, _ := w.do(opMiss); !ok || w.resp.Status != 404 {
		if ok {
			w.unexpected("GetExclusive of a new session")
		}
		return
	}
	w.req = wire.ClientRequest{Method: wire.MethodPut, Target: target, Host: cfg.Server,
		Timeout: locking.N(locking.DefaultTimeout), ExtraFlags: locking.N(1), LockCookie: locking.N(0), Body: w.payload}
	if ok, _ := w.do(opSet); !ok || w.resp.Status != 200 {
		if ok {
			w.unexpected("PUT ExtraFlags: 1")
		}
		return
	}
	w.req = wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: cfg.Server, Exclusive: wire.ExclusiveAcquire}
	if ok, _ := w.do(opAcquire); !ok || w.resp.Status != 200 || w.resp.ActionFlags.Value != 1 {
		if ok {
			w.unexpected("GetExclusive of an uninitialized session")
		}
		return
	}
	w.set(target, w.resp.LockCookie, w.payload)
	ok, t1 := w.do(opSet)
	if !ok || w.resp.Status != 200 {
		if ok {
			w.unexpected("PUT with the cookie")
		}
		return
	}
	if !t0.Before(w.b.start) && !t1.After(w.b.end) {
		w.seq.record(t1.Sub(t0))
	}
}
