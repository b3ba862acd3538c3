package locking

import (
	"math"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func TestCookieWrapsToOne(t *testing.T) {
	cur := &backends.Record{Data: []byte("x"), Timeout: 20, LockCookie: math.MaxInt32}
	res, ch := Decide(cur, &Request{Op: OpGetExclusive}, t0)
	if res.Status != 200 || res.LockCookie != 1 || ch.Record.LockCookie != 1 {
		t.Fatalf("got status %d cookie %d stored %d, want 200, 1, 1", res.Status, res.LockCookie, ch.Record.LockCookie)
	}
}

func TestAcquireStoresLockDateAndKeepsData(t *testing.T) {
	cur := &backends.Record{Data: []byte("blob"), Timeout: 30, LockCookie: 1}
	res, ch := Decide(cur, &Request{Op: OpGetExclusive}, t0)
	if ch.Action != backends.Store || !ch.Record.Locked || !ch.Record.LockDate.Equal(t0) {
		t.Fatalf("change = %+v, want a locked record dated %v", ch, t0)
	}
	if string(ch.Record.Data) != "blob" || ch.Record.Timeout != 30 || string(res.Body) != "blob" {
		t.Fatalf("data or timeout lost: change %+v result %+v", ch.Record, res)
	}
}

func TestReadOnlyOperationsWriteNothing(t *testing.T) {
	cur := &backends.Record{Data: []byte("x"), Timeout: 20, LockCookie: 1}
	for _, req := range []*Request{{Op: OpGet}, {Op: OpResetTimeout}, {Op: OpRelease, LockCookie: N(1)},
		{Op: OpSet, ExtraFlags: N(1), Body: []byte("y")}} {
		if _, ch := Decide(cur, req, t0); ch.Action != backends.Keep {
			t.Errorf("%v on an unlocked, initialised item: action %v, want keep (reads must not write)", req.Op, ch.Action)
		}
	}
}

func TestLockAgeNeverNegative(t *testing.T) {
	if got := LockAge(t0, t0.Add(-time.Hour)); got != 0 {
		t.Fatalf("LockAge with the clock behind the lock = %d, want 0", got)
	}
	if got := LockAge(t0, t0.Add(1999*time.Millisecond)); got != 1 {
		t.Fatalf("LockAge(1.999s) = %d, want 1 (truncated)", got)
	}
}

func TestSetInsertStartsAtCookieOne(t *testing.T) {
	res, ch := Decide(nil, &Request{Op: OpSet, Timeout: N(5), LockCookie: N(99), Body: []byte("b")}, t0)
	if res.Status != 200 || ch.Record.LockCookie != 1 || ch.Record.Timeout != 5 || ch.Record.Locked {
		t.Fatalf("insert: %+v %+v", res, ch.Record)
	}
}

// A release with OnlyIfLocked (the operators' force-unlock) of a record that
// is not locked answers StatusNotLocked and changes nothing, not even the
// uninitialized flag a plain release would clear; of a record locked with
// its cookie it releases as usual, and with another cookie it is a 423.
func TestReleaseOnlyIfLocked(t *testing.T) {
	unlocked := &backends.Record{Data: []byte("x"), Timeout: 20, Uninitialized: true, LockCookie: 3}
	req := &Request{Op: OpRelease, LockCookie: N(3), OnlyIfLocked: true}
	if res, ch := Decide(unlocked, req, t0); res.Status != StatusNotLocked || ch.Action != backends.Keep {
		t.Fatalf("unlocked: status %d action %v, want %d and keep", res.Status, ch.Action, StatusNotLocked)
	}
	plain := *req
	plain.OnlyIfLocked = false
	if res, ch := Decide(unlocked, &plain, t0); res.Status != 200 || ch.Action != backends.Store || ch.Record.Uninitialized {
		t.Fatalf("the plain release: status %d change %+v, want 200 clearing the flag", res.Status, ch)
	}
	locked := &backends.Record{Data: []byte("x"), Timeout: 20, Locked: true, LockCookie: 3, LockDate: t0}
	if res, ch := Decide(locked, req, t0); res.Status != 200 || ch.Action != backends.Store || ch.Record.Locked || !Releases(locked, ch) {
		t.Fatalf("locked with the cookie: status %d change %+v, want a release", res.Status, ch)
	}
	other := *req
	other.LockCookie = N(2)
	if res, ch := Decide(locked, &other, t0); res.Status != 423 || ch.Action != backends.Keep {
		t.Fatalf("locked with another cookie: status %d action %v, want 423", res.Status, ch.Action)
	}
	if res, _ := Decide(nil, req, t0); res.Status != 404 {
		t.Fatalf("absent: %d", res.Status)
	}
}
