package frontend

import (
	"log/slog"
	"unsafe"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// handle answers c.req, appending the response to c.out. It reports whether
// the connection must close after the responses so far are written.
func (c *conn) handle() (closeNow bool, reason closeReason) {
	s, req := c.s, &c.req
	closeNow, reason = req.Close, reasonConnHeader
	c.now = s.cfg.Now()
	c.startTiming()
	if req.Invalid != "" {
		c.lreq.Op = 0 // counted as "invalid"
		c.reply400(req.Invalid)
		return
	}
	c.lreq = locking.Request{Op: operation(req), Timeout: req.Timeout, LockCookie: req.LockCookie,
		ExtraFlags: req.ExtraFlags, Body: req.Body}
	if bad, ok := locking.Validate(&c.lreq); !ok {
		c.reply400(bad.Reason)
		return
	}
	if c.lreq.Op == locking.OpGetExclusive && c.start == c.end && c.io.PeerClosed() {
		// Nobody would receive the cookie: taking the lock would orphan the
		// session until the next client forces it open.
		return true, reasonClientGone
	}
	c.mark = len(c.out)
	var key string
	if s.borrowKeys && len(req.Key) > 0 {
		// The bytes stay put until the next read, long after Apply returns.
		key = unsafe.String(&req.Key[0], len(req.Key))
	} else {
		key = string(req.Key)
	}
	err := c.apply(key)
	if err != nil {
		c.out, c.body, c.bodyPooled = c.out[:c.mark], nil, false // a pooled copy is left to the collector
		if errClientGone(err) {
			return true, reasonClientGone
		}
		switch outcomeForError(err) {
		case outcomeReply400:
			s.refusals.Log(s.ctx, err, "request refused",
				"op", c.lreq.Op.String(), "key_hash", keyHash(req.Key), "err", err)
			c.logKey("request refused", err)
			c.reply400(err.Error())
			return
		default: // outcomeClose
			s.stats.BackendErrors.Add(1)
			s.backendFailures.Log(s.ctx, err, "backend failed; closing the connection instead of answering",
				"op", c.lreq.Op.String(), "key_hash", keyHash(req.Key), "remote", c.nc.RemoteAddr().String(), "err", err)
			c.logKey("backend failed", err)
			return true, reasonBackend
		}
	}
	if c.body != nil {
		c.vec = append(c.vec, c.out[c.vecEnd:], c.body)
		if c.bodyPooled {
			c.pooled = append(c.pooled, c.body)
		}
		c.vecEnd, c.body, c.bodyPooled = len(c.out), nil, false
	}
	c.answered(c.lreq.Op, c.result.Status)
	if s.log.Enabled(s.ctx, slog.LevelDebug) {
		s.log.Debug("request", "op", c.lreq.Op.String(), "key", string(req.Key), "status", c.result.Status,
			"reason", c.result.Reason)
	}
	return
}

// run applies the current request to key: through the backend, or through
// the Router, which may answer with another gateway's result.
func (c *conn) run(key string) error {
	s := c.s
	if s.cfg.Router == nil {
		return s.cfg.Backend.Apply(s.ctx, key, c.transition)
	}
	res, err := s.cfg.Router.Route(c.routeCtx(), key, &c.lreq, c.transition)
	if err != nil || res == nil {
		return err // nil result: ran here through c.transition
	}
	c.result, c.body = *res, nil
	c.out = c.appendResult(c.out[:c.mark], res, true)
	c.result.Body = nil
	return nil
}

// transit is the backend transition for the current request: the lock rules,
// then the response, encoded while the record's bytes are still valid. It
// may run more than once (Redis retries), so it starts from c.mark each time.
func (c *conn) transit(cur *backends.Record) backends.Change {
	res, ch := locking.Decide(cur, &c.lreq, c.now)
	c.result = res
	c.ran, c.released = true, locking.Releases(cur, ch)
	c.body, c.bodyPooled = nil, false // a pooled copy of an earlier run is left to the collector
	if c.sendBodies && res.HasBody && len(res.Body) >= minSentBody {
		c.out = c.appendResult(c.out[:c.mark], &res, false)
		c.body = res.Body // handle queues it once Apply has succeeded
	} else if c.vectored && res.HasBody && len(res.Body) >= minPooledBody {
		c.out = c.appendResult(c.out[:c.mark], &res, false)
		c.body, c.bodyPooled = pooledCopy(res.Body), true
	} else {
		c.out = c.appendResult(c.out[:c.mark], &res, true)
	}
	c.result.Body = nil // it aliases the record
	return ch
}

// minSentBody is the smallest body sent from the store rather than copied
// into out: below it, the copy costs less than another piece in the write.
const minSentBody = 512

// appendResult appends the response for res, with its body or, for the
// caller to send, without.
func (c *conn) appendResult(dst []byte, res *locking.Result, withBody bool) []byte {
	r := wire.Response{Status: res.Status, ActionFlags: res.ActionFlags}
	switch res.Status {
	case 200:
		r.HasLockCookie, r.LockCookie = res.HasLockCookie, res.LockCookie
		if res.HasBody {
			r.HasTimeout, r.Timeout, r.Body = true, res.Timeout, res.Body
		}
	case 423:
		r.LockCookie = res.LockCookie
		r.LockDateTicks = wire.TicksFromTime(res.LockDate.In(c.s.cfg.Location))
		r.LockAgeSeconds = res.LockAgeSeconds
	}
	if !withBody {
		return wire.AppendResponseHead(dst, c.s.cfg.Version, &r)
	}
	return wire.AppendResponse(dst, c.s.cfg.Version, &r)
}

// logKey logs a failed request with its session key, at debug level only:
// lines above debug carry keyHash instead (see logs.go).
func (c *conn) logKey(msg string, err error) {
	if c.s.log.Enabled(c.s.ctx, slog.LevelDebug) {
		c.s.log.Debug(msg, "op", c.lreq.Op.String(), "key", string(c.req.Key), "key_hash", keyHash(c.req.Key), "err", err)
	}
}

func (c *conn) reply400(why string) {
	c.answered(c.lreq.Op, 400)
	if c.s.log.Enabled(c.s.ctx, slog.LevelDebug) {
		c.s.log.Debug("bad request", "remote", c.nc.RemoteAddr().String(), "reason", why)
	}
	c.out = wire.AppendResponse(c.out, c.s.cfg.Version, &wire.Response{Status: 400})
}

func operation(r *wire.Request) locking.Op {
	switch r.Method {
	case wire.MethodPut:
		return locking.OpSet
	case wire.MethodDelete:
		return locking.OpRemove
	case wire.MethodHead:
		return locking.OpResetTimeout
	}
	switch r.Exclusive {
	case wire.ExclusiveAcquire:
		return locking.OpGetExclusive
	case wire.ExclusiveRelease:
		return locking.OpRelease
	}
	return locking.OpGet
}
