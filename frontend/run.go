package frontend

import (
	"context"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// Run runs one protocol operation on key exactly as a request from a web
// server would run (through the Router when peering, with the same lock rules
// and the gateway's clock) and returns its result, without waiting for a lock:
// the operators' tools use it, so that a force-unlock or a delete obeys the
// same rules, wakes the same waiters and reaches the same owner as the web
// servers' own requests. The result's Body is a copy the caller owns.
func (s *Server) Run(ctx context.Context, key string, req *locking.Request) (locking.Result, error) {
	var (
		res      locking.Result
		released bool
	)
	now := s.cfg.Now()
	fn := func(cur *backends.Record) backends.Change {
		r, ch := locking.Decide(cur, req, now)
		released = locking.Releases(cur, ch)
		if r.HasBody {
			r.Body = append([]byte(nil), r.Body...)
		}
		res = r
		return ch
	}
	if bad, ok := locking.Validate(req); !ok {
		return bad, nil
	}
	if s.cfg.Router == nil {
		if err := s.cfg.Backend.Apply(ctx, key, fn); err != nil {
			return locking.Result{}, err
		}
	} else {
		r, err := s.cfg.Router.Route(ctx, key, req, fn)
		if err != nil {
			return locking.Result{}, err
		}
		if r != nil {
			return *r, nil // ran at the owner, which woke its own waiters
		}
	}
	if released {
		s.cfg.Waits.Notify(key)
	}
	return res, nil
}

// Notify wakes the first request waiting at this gateway for key's lock, for
// tools that change a record outside Run: an import that replaces a locked
// session. Extra calls are harmless (the woken request runs again and waits
// on if the session is still locked).
func (s *Server) Notify(key string) { s.cfg.Waits.Notify(key) }

// Now is the gateway's clock (Config.Now), for tools that report lock ages
// the way the protocol does.
func (s *Server) Now() time.Time { return s.cfg.Now() }
