package backendtest

import (
	"errors"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

func testUseAfterClose(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("v", 20))
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	err := e.b.Apply(e.ctx, "k", func(*backends.Record) backends.Change {
		called = true
		return backends.Change{Action: backends.Store, Record: rec("after close", 20)}
	})
	if !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if called {
		t.Error("Apply after Close called the transition")
	}
	if _, err := backends.Get(e.ctx, e.b, "k"); !errors.Is(err, backends.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := e.b.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func testReopenPersists(t *testing.T, h Harness) {
	e := newEnv(t, h)
	full := fullRecord(e.clock.Now())
	e.put("full", full)
	e.put("plain", rec("plain", 20))
	e.put("short", rec("gone after reopen", 1))
	e.put("deleted", rec("d", 20))
	if err := backends.Remove(e.ctx, e.b, "deleted"); err != nil {
		t.Fatal(err)
	}
	e.put("replaced", rec("old value, longer", 20))
	e.put("replaced", rec("new", 30))
	// Lock state written by a transition, aliasing the stored data.
	lockDate := e.clock.Now().Add(123456789)
	e.apply("plain", func(cur *backends.Record) backends.Change {
		r := *cur
		r.Locked, r.LockCookie, r.LockDate = true, 2, lockDate
		return backends.Change{Action: backends.Store, Record: r}
	})
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	e.clock.Advance(time.Minute + time.Second) // "short" expires while the store is closed
	e.b = e.open()
	e.wantRecord("full", full)
	e.wantRecord("plain", backends.Record{Data: []byte("plain"), Timeout: 20, Locked: true, LockCookie: 2, LockDate: lockDate})
	e.wantRecord("replaced", rec("new", 30))
	e.mustNotFind("short")
	e.mustNotFind("deleted")

	// The reopened store works, and a second reopen still has it all.
	e.put("after", rec("written after reopen", 20))
	if err := e.b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.b = e.open()
	e.wantRecord("after", rec("written after reopen", 20))
	e.wantRecord("full", full)
	e.mustNotFind("short")
}
