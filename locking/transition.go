package locking

import (
	"math"
	"time"

	"github.com/aspstate/aspstate/backends"
)

const (
	// DefaultTimeout is the session timeout in minutes when a PUT has none.
	DefaultTimeout = 20
	// MaxTimeout is the reference server's limit: one year in minutes.
	MaxTimeout = 525600
	// firstCookie is the cookie of a new item; its first acquire yields 2.
	firstCookie = 1
)

// Validate checks what the reference server rejects before it looks the key
// up: a Set's Timeout and ExtraFlags. It returns the 400 to send, or ok.
func Validate(req *Request) (bad Result, ok bool) {
	if req.Op != OpSet {
		return Result{}, true
	}
	if t := req.Timeout; t.Present && (!t.Valid || t.Value < 1 || t.Value > MaxTimeout) {
		return badRequest("Timeout must be 1..525600 minutes"), false
	}
	if f := req.ExtraFlags; f.Present && (!f.Valid || f.Value > 1) {
		return badRequest("ExtraFlags must be 0 or 1"), false
	}
	return Result{}, true
}

// Decide is the protocol's state machine: given the current live record (nil
// if absent) it decides the answer and the change to store. It does no I/O and
// is deterministic in its inputs, so a backend may call it more than once.
// now is the gateway's clock; lock dates are taken from it.
func Decide(cur *backends.Record, req *Request, now time.Time) (Result, backends.Change) {
	keep := backends.Change{Action: backends.Keep}
	if bad, ok := Validate(req); !ok {
		return bad, keep
	}
	if req.Op == OpSet {
		return set(cur, req, now)
	}
	if cur == nil {
		return Result{Status: 404}, keep
	}
	switch req.Op {
	case OpGet:
		if cur.Locked {
			return locked(cur, now), keep
		}
		res := Result{Status: 200, HasBody: true, Timeout: cur.Timeout, Body: cur.Data}
		return res, reportFlag(cur, &res)

	case OpGetExclusive:
		if cur.Locked {
			return locked(cur, now), keep
		}
		next := *cur
		next.Locked = true
		next.LockCookie = nextCookie(cur.LockCookie)
		next.LockDate = now.UTC()
		res := Result{Status: 200, HasBody: true, Timeout: cur.Timeout, Body: cur.Data,
			HasLockCookie: true, LockCookie: next.LockCookie}
		if next.Uninitialized {
			next.Uninitialized = false
			res.ActionFlags = true
		}
		return res, backends.Change{Action: backends.Store, Record: next}

	case OpRelease:
		c := req.LockCookie
		if !c.Present || !c.Valid {
			return badRequest("release needs a non-negative LockCookie"), keep
		}
		if cur.Locked && c.Value != cur.LockCookie {
			return locked(cur, now), keep
		}
		if req.OnlyIfLocked && !cur.Locked {
			return Result{Status: StatusNotLocked}, keep
		}
		// Releasing an unlocked item answers 200 whatever the cookie
		// ("should be locked but isn't" in the reference).
		res := Result{Status: 200, ActionFlags: cur.Uninitialized}
		if !cur.Locked && !cur.Uninitialized {
			return res, keep
		}
		next := *cur
		next.Locked = false
		next.Uninitialized = false
		return res, backends.Change{Action: backends.Store, Record: next}

	case OpRemove:
		c := req.LockCookie
		if c.Present && !c.Valid {
			return badRequest("LockCookie must be a non-negative integer"), keep
		}
		if cur.Locked && (!c.Present || c.Value != cur.LockCookie) {
			return locked(cur, now), keep
		}
		return Result{Status: 200}, backends.Change{Action: backends.Delete}

	case OpResetTimeout:
		// The lookup itself slid the expiry; the lock is not checked.
		return Result{Status: 200}, keep
	}
	return badRequest("unknown operation"), keep
}

// set is PUT, in the reference server's order (FinishPut).
func set(cur *backends.Record, req *Request, now time.Time) (Result, backends.Change) {
	keep := backends.Change{Action: backends.Keep}
	timeout := int32(DefaultTimeout)
	if req.Timeout.Present {
		timeout = req.Timeout.Value
	}
	uninitialized := req.ExtraFlags.Present && req.ExtraFlags.Value == 1
	if cur == nil {
		// Insert. The reference does not even parse LockCookie here.
		return Result{Status: 200}, backends.Change{Action: backends.Store, Record: backends.Record{
			Data: req.Body, Timeout: timeout, Uninitialized: uninitialized, LockCookie: firstCookie,
		}}
	}
	if uninitialized {
		// Insert-if-absent of an existing item: 200, nothing changes, and the
		// lock is deliberately not checked (docs/protocol.md §8, case 29).
		return Result{Status: 200}, keep
	}
	c := req.LockCookie
	if c.Present && !c.Valid {
		return badRequest("LockCookie must be a non-negative integer"), keep
	}
	if cur.Locked && (!c.Present || c.Value != cur.LockCookie) {
		return locked(cur, now), keep
	}
	// Replace and unlock. The cookie is kept, so the next acquire never
	// repeats one; a pending uninitialized flag is cleared, since a PUT means
	// the client initialised the session (docs/protocol.md §9.4).
	return Result{Status: 200}, backends.Change{Action: backends.Store, Record: backends.Record{
		Data: req.Body, Timeout: timeout, LockCookie: cur.LockCookie, LockDate: cur.LockDate,
	}}
}

// reportFlag clears a pending uninitialized flag on a 200 read and reports it
// with ActionFlags: 1, exactly once.
func reportFlag(cur *backends.Record, res *Result) backends.Change {
	if !cur.Uninitialized {
		return backends.Change{Action: backends.Keep}
	}
	res.ActionFlags = true
	next := *cur
	next.Uninitialized = false
	return backends.Change{Action: backends.Store, Record: next}
}

func locked(cur *backends.Record, now time.Time) Result {
	return Result{Status: 423, LockCookie: cur.LockCookie, LockDate: cur.LockDate,
		LockAgeSeconds: LockAge(cur.LockDate, now)}
}

// LockAge is the whole seconds since the lock was taken, never negative (a
// clock step backwards must not produce an age the client distrusts).
func LockAge(lockDate, now time.Time) int64 {
	age := int64(now.Sub(lockDate) / time.Second)
	if age < 0 {
		return 0
	}
	return age
}

// nextCookie increments a lock cookie, wrapping to 1 after MaxInt32 so that
// cookies stay positive (a negative cookie would make the client's next
// request a 400).
func nextCookie(c int32) int32 {
	if c >= math.MaxInt32 || c < firstCookie {
		return firstCookie
	}
	return c + 1
}

func badRequest(reason string) Result { return Result{Status: 400, Reason: reason} }
