package backendtest

import (
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Deadlines are checked to the millisecond: a record is visible 1 ms before
// now+Timeout and invisible 1 ms after. Stores may keep deadlines at
// millisecond precision (Redis) but no coarser.
const margin = time.Millisecond

func testExpiredIsInvisible(t *testing.T, h Harness) {
	e := newEnv(t, h)
	// Every access slides the deadline, so "just before" and "just after" are
	// checked on two records stored at the same instant.
	e.put("before", rec("b", 20))
	e.put("after", rec("a", 20))
	e.put("long", rec("l", 60))
	e.clock.Advance(20*time.Minute - margin)
	if !e.touch("before") {
		t.Fatal("record invisible 1 ms before its deadline")
	}
	e.clock.Advance(2 * margin)
	// Invisible at once: no sweep has had a chance to run on the test clock.
	if e.touch("after") {
		t.Fatal("record visible 1 ms after its deadline")
	}
	e.mustNotFind("after")
	e.wantRecord("before", rec("b", 20)) // slid by the touch
	e.wantRecord("long", rec("l", 60))
	// Storing under the expired key starts afresh.
	e.apply("after", func(cur *backends.Record) backends.Change {
		if cur != nil {
			t.Errorf("transition saw an expired record %+v", summary(*cur))
		}
		return backends.Change{Action: backends.Store, Record: rec("new", 20)}
	})
	e.wantRecord("after", rec("new", 20))
}

func testReadSlidesExpiry(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("v", 20))
	e.put("unread", rec("u", 20))
	e.clock.Advance(15 * time.Minute)
	if !e.touch("k") { // a Keep at +15 min slides k to +35 min
		t.Fatal("record gone at +15 min")
	}
	e.clock.Advance(15 * time.Minute) // +30 min
	if !e.touch("k") {                // slides to +50 min
		t.Fatal("a read at +15 min did not keep a 20-min record alive at +30 min")
	}
	e.mustNotFind("unread")
	e.clock.Advance(20*time.Minute - margin) // +50 min - 1 ms
	if !e.touch("k") {                       // slides to +70 min - 1 ms
		t.Fatal("record gone before its slid deadline")
	}
	e.clock.Advance(20*time.Minute + margin) // 1 ms past
	e.mustNotFind("k")

	// A Delete transition on an expired key sees nil.
	e.apply("k", func(cur *backends.Record) backends.Change {
		if cur != nil {
			t.Error("Delete transition saw an expired record")
		}
		return backends.Change{Action: backends.Delete}
	})

	// A Store also slides: the new deadline is now + the new Timeout.
	e.put("s", rec("v", 20))
	e.clock.Advance(10 * time.Minute)
	e.apply("s", func(cur *backends.Record) backends.Change {
		r := *cur
		r.Locked = true
		return backends.Change{Action: backends.Store, Record: r}
	})
	e.clock.Advance(20*time.Minute - margin)
	if !e.touch("s") {
		t.Fatal("a Store did not slide the deadline to now + Timeout")
	}
}

// testStoreSetsDeadlineFromNewTimeout: a Store with a shorter timeout moves
// the deadline earlier, not only later.
func testStoreSetsDeadlineFromNewTimeout(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("before", rec("v", 60))
	e.put("after", rec("v", 60))
	e.clock.Advance(5 * time.Minute)
	e.put("before", rec("v2", 1)) // deadline +6 min
	e.put("after", rec("v2", 1))
	e.clock.Advance(time.Minute - margin)
	if !e.touch("before") {
		t.Fatal("record gone before its 1-min deadline")
	}
	e.clock.Advance(2 * margin)
	e.mustNotFind("after") // untouched since the Store with Timeout 1

	// And a longer one moves it later.
	e.put("m", rec("v", 1))
	e.put("m", rec("v", 30))
	e.clock.Advance(29 * time.Minute)
	e.wantRecord("m", rec("v", 30))
}

func testLockedRecordsExpire(t *testing.T, h Harness) {
	e := newEnv(t, h)
	r := backends.Record{Data: []byte("v"), Timeout: 1, Locked: true, LockCookie: 2, LockDate: e.clock.Now()}
	e.put("k", r)
	e.clock.Advance(time.Minute + margin)
	e.mustNotFind("k")
}
