package backendtest

import (
	"errors"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

func testNotFound(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.mustNotFind("missing")
	if err := backends.Remove(e.ctx, e.b, "missing"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Remove(missing) = %v, want ErrNotFound", err)
	}
	calls := 0
	e.apply("missing", func(cur *backends.Record) backends.Change {
		calls++
		if cur != nil {
			t.Errorf("transition saw %+v for an absent key, want nil", summary(*cur))
		}
		return backends.Change{Action: backends.Keep}
	})
	if calls == 0 {
		t.Fatal("Apply returned without calling the transition")
	}
}

func testPutThenGet(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("hello", 20))
	e.wantRecord("k", rec("hello", 20))
	e.mustNotFind("k2")
}

func testReplace(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("first value, the longer one", 20))
	e.put("k", backends.Record{Data: []byte("second"), Timeout: 5, LockCookie: 7})
	e.wantRecord("k", backends.Record{Data: []byte("second"), Timeout: 5, LockCookie: 7})
	// Growing again after shrinking.
	e.put("k", rec("third, longer than the second", 30))
	e.wantRecord("k", rec("third, longer than the second", 30))
}

func testDelete(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("v", 20))
	e.put("other", rec("o", 20))
	if err := backends.Remove(e.ctx, e.b, "k"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	e.mustNotFind("k")
	e.wantRecord("other", rec("o", 20))
	// Deleting an absent key through a transition is not an error.
	e.apply("k", func(*backends.Record) backends.Change { return backends.Change{Action: backends.Delete} })
	e.apply("never", func(*backends.Record) backends.Change { return backends.Change{Action: backends.Delete} })
	e.mustNotFind("never")
	// The key can be used again.
	e.put("k", rec("again", 20))
	e.wantRecord("k", rec("again", 20))
}

// fullRecord has every field set to a non-default value.
func fullRecord(start time.Time) backends.Record {
	return backends.Record{
		Data:          []byte("\x00\x01\x02 session blob \xff\xfe"),
		Timeout:       525600,
		Uninitialized: true,
		Locked:        true,
		LockCookie:    2147483647,
		LockDate:      start.Add(-3*time.Hour + 123456789*time.Nanosecond), // ns precision
	}
}

func testWholeRecordRoundTrips(t *testing.T, h Harness) {
	e := newEnv(t, h)
	want := fullRecord(e.clock.Now())
	e.put("full", want)
	e.wantRecord("full", want)

	// Every flag and field set back to its zero value also round-trips, and
	// a negative cookie (what the reference would reach after overflow) too.
	zero := backends.Record{Data: []byte("z"), Timeout: 1, LockCookie: -1}
	e.put("full", zero)
	e.wantRecord("full", zero)

	// The LockDate in a location other than UTC is the same instant.
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	other := backends.Record{Data: []byte("x"), Timeout: 20, Locked: true, LockCookie: 3,
		LockDate: e.clock.Now().In(loc).Add(987654321)}
	e.put("loc", other)
	e.wantRecord("loc", other)
}

// testTransitionSeesStoredRecord checks that the transition, not only Get,
// sees every stored field.
func testTransitionSeesStoredRecord(t *testing.T, h Harness) {
	e := newEnv(t, h)
	want := fullRecord(e.clock.Now())
	e.put("k", want)
	e.apply("k", func(cur *backends.Record) backends.Change {
		if cur == nil {
			t.Error("transition saw nil, want the stored record")
		} else if d := diffRecord(*cur, want); d != "" {
			t.Errorf("transition saw:%s", d)
		}
		return backends.Change{Action: backends.Keep}
	})
}

func testKeepOnAbsentCreatesNothing(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if e.touch("k") {
		t.Fatal("Keep on an absent key found a record")
	}
	if e.touch("k") {
		t.Fatal("Keep on an absent key created a record")
	}
	e.mustNotFind("k")
	// Nor does a Keep on an expired key bring it back.
	e.put("x", rec("v", 1))
	e.clock.Advance(time.Minute + time.Millisecond)
	if e.touch("x") {
		t.Fatal("Keep found an expired record")
	}
	e.mustNotFind("x")
}
