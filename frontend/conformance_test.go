package frontend_test

// Every row of the conformance table (docs/protocol.md §8) as a test over real TCP
// against an in-process Server backed by memstore. Requests are the table's
// bytes (U1/U2 in .NET 4.x form, H = "Host: 127.0.0.1:42424\r\n", B7 and B26
// of §7); responses are compared byte for byte with the templates of §3.4.
// Each row starts from a fresh server and an empty store. Waits of the table
// advance the shared test clock instead of sleeping. LockDate is checked by
// rule (the .NET ticks of the lock time in the server's Location) and LockAge
// as the whole seconds the clock moved since the lock.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

type conformanceRow struct {
	n    int
	name string
	run  func(t *testing.T, h *harness)
}

// Requests the table uses again and again.
var (
	get1 = rq("GET", U1, "", "")
	acq1 = rq("GET", U1, "Exclusive: acquire\r\n", "")
	// put3 is "case 3's PUT".
	put3 = rq("PUT", U1, "Timeout: 20\r\nLockCookie: 0\r\nContent-Length: 7\r\n", B7)
	// putUninit is the PUT with ExtraFlags: 1 of cases 25, 27 and 30.
	putUninit = rq("PUT", U1, "Timeout: 20\r\nExtraFlags: 1\r\nLockCookie: 0\r\nContent-Length: 7\r\n", B7)
	// putT1 is "PUT U1 … Timeout: 1 …" B7 of cases 39 to 42.
	putT1 = rq("PUT", U1, "Timeout: 1\r\nContent-Length: 7\r\n", B7)
)

func release1(cookieHeaders string) string {
	return rq("GET", U1, "Exclusive: release\r\n"+cookieHeaders, "")
}

// row5 runs case 5 (case 3's PUT, then an acquire → cookie 2) on c and
// returns the lock time.
func row5(h *harness, c *client) time.Time {
	c.t.Helper()
	c.do(put3, t200)
	lockAt := h.clock.Now()
	c.do(acq1, t200x(2, 20, B7, false))
	return lockAt
}

var conformanceRows = []conformanceRow{
	{1, "GetAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(get1, t404)
		c.finish()
	}},
	{2, "GetExclusiveAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(acq1, t404)
		c.finish()
	}},
	{3, "PutThenGet", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{4, "PutWithoutTimeoutDefaults20", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("PUT", U1, "Content-Length: 7\r\n", B7), t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{5, "FirstAcquireCookie2", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.finish()
	}},
	{6, "SecondAcquireLocked", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		if !lockAt.Equal(testStart) {
			t.Fatalf("clock moved: %v", lockAt)
		}
		// LockDate as an independently computed literal (see testStartTicks).
		c.do(acq1, t423(2, 0, testStartTicks))
		c.finish()
	}},
	{7, "PlainGetOfLocked", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(get1, t423(2, 0, ticksOf(lockAt)))
		c.finish()
	}},
	{8, "PutWithCookieUnlocks", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.do(rq("PUT", U1, "Timeout: 20\r\nLockCookie: 2\r\nContent-Length: 26\r\n", B26), t200)
		c.do(acq1, t200x(3, 20, B26, false))
		c.finish()
	}},
	{9, "PutWrongCookieDropped", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(rq("PUT", U1, "Timeout: 20\r\nLockCookie: 7\r\nContent-Length: 26\r\n", B26), t423(2, 0, ticksOf(lockAt)))
		c.do(release1("LockCookie: 2\r\n"), t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{10, "PutNoCookieOnLocked", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 26\r\n", B26), t423(2, 0, ticksOf(lockAt)))
		// Beyond the table: nothing was written.
		c.do(release1("LockCookie: 2\r\n"), t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{11, "Release", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.do(release1("LockCookie: 2\r\n"), t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{12, "ReleaseWrongCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(release1("LockCookie: 9\r\n"), t423(2, 0, ticksOf(lockAt)))
		c.finish()
	}},
	{13, "ReleaseUnlocked", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(release1("LockCookie: 9\r\n"), t200)
		c.finish()
	}},
	{14, "ReleaseAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(release1("LockCookie: 2\r\n"), t404)
		c.finish()
	}},
	{15, "ReleaseWithoutCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(release1(""), t400)
		c.finish()
	}},
	{16, "ReleaseWithoutCookieAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(release1(""), t404)
		c.finish()
	}},
	{17, "DeleteUnlocked", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("DELETE", U1, "", ""), t200)
		c.do(get1, t404)
		c.finish()
	}},
	{18, "DeleteWithCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.do(rq("DELETE", U1, "LockCookie: 2\r\n", ""), t200)
		c.do(get1, t404)
		c.finish()
	}},
	{19, "DeleteWrongCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(rq("DELETE", U1, "LockCookie: 3\r\n", ""), t423(2, 0, ticksOf(lockAt)))
		c.finish()
	}},
	{20, "DeleteNoCookieOnLocked", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(rq("DELETE", U1, "", ""), t423(2, 0, ticksOf(lockAt)))
		c.finish()
	}},
	{21, "DeleteAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("DELETE", U1, "LockCookie: 2\r\n", ""), t404)
		c.finish()
	}},
	{22, "Head", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("HEAD", U1, "", ""), t200)
		c.finish()
	}},
	{23, "HeadLocked", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.do(rq("HEAD", U1, "", ""), t200)
		c.finish()
	}},
	{24, "HeadAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("HEAD", U1, "", ""), t404)
		c.finish()
	}},
	{25, "UninitializedAcquireActionFlags", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putUninit, t200)
		c.do(acq1, t200x(2, 20, B7, true))
		c.finish()
	}},
	{26, "ActionFlagsOnlyOnce", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putUninit, t200)
		c.do(acq1, t200x(2, 20, B7, true))
		c.do(release1("LockCookie: 2\r\n"), t200)
		c.do(acq1, t200x(3, 20, B7, false))
		c.finish()
	}},
	{27, "UninitializedPlainGet", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putUninit, t200)
		c.do(get1, t200g(20, B7, true))
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{28, "InsertIfAbsentOnExisting", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("PUT", U1, "Timeout: 20\r\nExtraFlags: 1\r\nContent-Length: 26\r\n", B26), t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{29, "InsertIfAbsentOnLocked", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		c.do(rq("PUT", U1, "Timeout: 20\r\nExtraFlags: 1\r\nContent-Length: 26\r\n", B26), t200)
		c.do(rq("PUT", U1, "Timeout: 20\r\nExtraFlags: 1\r\nLockCookie: 9\r\nContent-Length: 26\r\n", B26), t200)
		// Still locked, by the same lock, and nothing changed.
		c.do(acq1, t423(2, 0, ticksOf(lockAt)))
		c.do(release1("LockCookie: 2\r\n"), t200)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{30, "ReleaseReportsActionFlags", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putUninit, t200)
		c.do(release1("LockCookie: 1\r\n"), t200af)
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{31, "TimeoutChangingPutWithCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.do(rq("PUT", U1, "Timeout: 30\r\nLockCookie: 2\r\nContent-Length: 7\r\n", B7), t200)
		c.do(acq1, t200x(3, 30, B7, false))
		c.finish()
	}},
	{32, "TimeoutChangingPutWithoutCookie", func(t *testing.T, h *harness) {
		// The reference would answer LockCookie 0; aspstate keeps the stored
		// cookie, 2 (docs/protocol.md §9.2).
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("PUT", U1, "Timeout: 30\r\nContent-Length: 7\r\n", B7), t200)
		c.do(acq1, t200x(2, 30, B7, false))
		c.finish()
	}},
	{33, "TimeoutTooLarge", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("PUT", U1, "Timeout: 525601\r\nContent-Length: 7\r\n", B7), t400)
		c.finish()
		// Beyond the table: nothing stored; the maximum itself is accepted.
		c = h.dial()
		c.do(get1, t404)
		c.do(rq("PUT", U1, "Timeout: 525600\r\nContent-Length: 7\r\n", B7), t200)
		c.do(get1, t200g(525600, B7, false))
		c.finish()
	}},
	{34, "TimeoutNotNumeric", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("PUT", U1, "Timeout: abc\r\nContent-Length: 7\r\n", B7), t400)
		c.finish()
		c = h.dial()
		c.do(get1, t404)
		c.finish()
	}},
	{35, "TimeoutNegative", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("PUT", U1, "Timeout: -5\r\nContent-Length: 7\r\n", B7), t400)
		c.finish()
		c = h.dial()
		c.do(get1, t404)
		c.finish()
	}},
	{36, "PutCookieNotNumeric", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("PUT", U1, "Timeout: 20\r\nLockCookie: abc\r\nContent-Length: 7\r\n", B7), t400)
		c.finish()
	}},
	{37, "PutCookieNotNumericAbsent", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("PUT", U2, "Timeout: 20\r\nLockCookie: abc\r\nContent-Length: 7\r\n", B7), t200)
		c.do(rq("GET", U2, "", ""), t200g(20, B7, false))
		c.finish()
	}},
	{38, "DeleteNegativeCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("DELETE", U1, "LockCookie: -1\r\n", ""), t400)
		c.finish()
		c = h.dial()
		c.do(get1, t200g(20, B7, false))
		c.finish()
	}},
	{39, "Expiry", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putT1, t200)
		h.clock.Advance(61 * time.Second)
		c.do(get1, t404)
		c.finish()
	}},
	{40, "GetSlidesExpiry", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putT1, t200)
		h.clock.Advance(40 * time.Second)
		c.do(get1, t200g(1, B7, false))
		h.clock.Advance(40 * time.Second)
		c.do(get1, t200g(1, B7, false))
		// Beyond the table: the slide is to now + 1 min, not forever.
		h.clock.Advance(61 * time.Second)
		c.do(get1, t404)
		c.finish()
	}},
	{41, "HeadSlidesExpiry", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putT1, t200)
		h.clock.Advance(40 * time.Second)
		c.do(rq("HEAD", U1, "", ""), t200)
		h.clock.Advance(40 * time.Second)
		c.do(get1, t200g(1, B7, false))
		c.finish()
	}},
	{42, "LockedItemsExpire", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(putT1, t200)
		c.do(acq1, t200x(2, 1, B7, false))
		h.clock.Advance(61 * time.Second)
		c.do(get1, t404)
		c.finish()
	}},
	{43, "LockAgeWholeSeconds", func(t *testing.T, h *harness) {
		c := h.dial()
		lockAt := row5(h, c)
		h.clock.Advance(5 * time.Second)
		c.do(get1, t423(2, 5, ticksOf(lockAt)))
		// Beyond the table: truncated, not rounded.
		h.clock.Advance(999 * time.Millisecond)
		c.do(get1, t423(2, 5, ticksOf(lockAt)))
		h.clock.Advance(time.Millisecond)
		c.do(get1, t423(2, 6, ticksOf(lockAt)))
		c.finish()
	}},
	{44, "KeepAlive", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(get1, t404)
		c.do(rq("HEAD", U1, "", ""), t404)
		// A third request on the same connection proves it stayed open.
		c.do(get1, t404)
		c.finish()
	}},
	{45, "Pipelined", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(get1+rq("GET", U2, "", ""), t404, t404)
		// Beyond the table: answers come in request order.
		c.do(rq("PUT", U2, "Timeout: 20\r\nContent-Length: 7\r\n", B7), t200)
		c.do(get1+rq("GET", U2, "", "")+get1, t404, t200g(20, B7, false), t404)
		c.finish()
	}},
	{46, "UnknownMethod", func(t *testing.T, h *harness) {
		c := h.dial()
		c.send(rq("POST", U1, "Content-Length: 0\r\n", ""))
		checkBytes(t, "everything before the close", c.readToEOF(), t400)
	}},
	{47, "Garbage", func(t *testing.T, h *harness) {
		c := h.dial()
		c.send("garbage\r\n\r\n")
		if got := c.readToEOF(); got != "" && got != t400 {
			t.Errorf("got %q before the close, want nothing or %q", got, t400)
		}
		healthy(t, h)
	}},
	{48, "NoHost", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do("GET "+U1+" HTTP/1.1\r\n\r\n", t404)
		c.finish()
	}},
	{49, "BytesAfterBody", func(t *testing.T, h *harness) {
		c := h.dial()
		next := rq("GET", U1, "", "")
		// The 8th byte after the head starts the next request; the PUT is
		// answered before the rest of that request arrives.
		c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 7\r\n", B7)+next[:1], t200)
		c.do(next[1:], t200g(20, B7, false))
		c.finish()
	}},
	{50, "BodyOverLimit", func(t *testing.T, h *harness) {
		c := h.dial()
		// The head and a little of the body: the server must not wait for
		// the other 20 MiB.
		c.send(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 20971521\r\n", B26))
		if got := c.readToEOF(); got != "" && got != t400 {
			t.Errorf("got %q before the close, want nothing or %q", got, t400)
		}
		healthy(t, h)
	}},
	{51, "ExclusiveUpperCase", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("GET", U1, "Exclusive: ACQUIRE\r\n", ""), t200x(2, 20, B7, false))
		c.finish()
	}},
	{52, "LockDashCookie", func(t *testing.T, h *harness) {
		c := h.dial()
		row5(h, c)
		c.do(release1("Lock-Cookie: 2\r\n"), t200)
		c.do(get1, t200g(20, B7, false)) // released indeed
		c.finish()
	}},
	{53, "UpperCaseHexSameKey", func(t *testing.T, h *harness) {
		upper := strings.NewReplacer("%2f", "%2F", "%3d", "%3D").Replace(U1)
		if upper == U1 || strings.ToLower(upper) == upper {
			t.Fatalf("bad upper-case form %q", upper)
		}
		c := h.dial()
		c.do(put3, t200)
		c.do(rq("GET", upper, "", ""), t200g(20, B7, false))
		c.finish()
	}},
	{54, "EmptyBodyStored", func(t *testing.T, h *harness) {
		c := h.dial()
		c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 0\r\n", ""), t200)
		c.do(get1, t200g(20, "", false))
		c.finish()
	}},
	{55, "VersionOnFirstResponse", func(t *testing.T, h *harness) {
		for _, first := range []string{get1, put3, rq("HEAD", U2, "", "")} {
			c := h.dial()
			c.send(first)
			resp := c.next()
			v := headerValue(resp, "X-AspNet-Version")
			major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
			if err != nil || major < 2 {
				t.Errorf("first response %q: X-AspNet-Version %q, want major >= 2", resp, v)
			}
			c.finish()
		}
	}},
	{56, "ForcedReleaseAfterExecutionTimeout", func(t *testing.T, h *harness) {
		holder := h.dial()
		lockAt := row5(h, holder)
		waiter := h.dial()
		polls := 0
		for {
			h.clock.Advance(500 * time.Millisecond)
			age := int64(h.clock.Now().Sub(lockAt) / time.Second)
			waiter.do(acq1, t423(2, age, ticksOf(lockAt)))
			polls++
			if t.Failed() {
				t.Fatalf("poll %d failed", polls)
			}
			if age >= 110 {
				break
			}
		}
		if polls != 220 {
			t.Errorf("%d polls, want 220", polls)
		}
		waiter.do(release1("LockCookie: 2\r\n"), t200)
		waiter.do(acq1, t200x(3, 20, B7, false))
		holder.finish()
		waiter.finish()
	}},
	{57, "NoLockForClientGone", row57},
}

// row57: a GetExclusive whose client has closed the socket before the server
// processes it takes no lock. Made deterministic by holding the connection's
// goroutine in the backend (a gated request pipelined before the acquire)
// until the client's FIN has arrived; then the acquire is processed with the
// EOF already visible. Then, beyond that: with no gate, whatever the race
// between the FIN and the server's read, the session is locked if and only if
// the client was sent the lock.
func row57(t *testing.T, _ *harness) {
	fs := &faultStore{gateKey: "gate", entered: make(chan struct{}, 1), gate: make(chan struct{})}
	h := newHarness(t, withBackend(func(b backends.Backend) backends.Backend { fs.Backend = b; return fs }))

	c := h.dial()
	c.do(put3, t200)

	gone := h.dial()
	gone.send(rq("GET", "gate", "", "") + acq1)
	select {
	case <-fs.entered:
	case <-time.After(ioTimeout):
		t.Fatal("the gated request never reached the backend")
	}
	if err := gone.nc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the FIN crosses loopback
	close(fs.gate)
	// The gated request is answered, the acquire is not, and the connection
	// closes.
	checkBytes(t, "everything before the close", gone.readToEOF(), t404)
	gone.nc.Close()

	c.do(get1, t200g(20, B7, false)) // not locked
	c.do(acq1, t200x(2, 20, B7, false))
	lockAt := h.clock.Now()

	// Literal #5 reading: the item is locked; a GetExclusive from a client
	// that leaves changes nothing (same cookie, same date).
	gone = h.dial()
	gone.send(acq1)
	gone.nc.CloseWrite()
	if got := gone.readToEOF(); got != "" && got != t423(2, 0, ticksOf(lockAt)) {
		t.Errorf("locked item, client gone: got %q", got)
	}
	gone.nc.Close()
	c.do(get1, t423(2, 0, ticksOf(lockAt)))
	c.do(release1("LockCookie: 2\r\n"), t200)

	// Ungated races: send the acquire and close in one go, 20 times.
	cookie := 2
	answered := 0
	for i := 0; i < 20; i++ {
		g := h.dial()
		g.send(acq1)
		g.nc.CloseWrite()
		got := g.readToEOF()
		g.nc.Close()
		switch got {
		case "":
			c.do(get1, t200g(20, B7, false)) // unlocked: no orphan lock
		case t200x(cookie+1, 20, B7, false):
			answered++
			cookie++
			c.do(get1, t423(cookie, 0, ticksOf(h.clock.Now())))
			c.do(release1("LockCookie: "+strconv.Itoa(cookie)+"\r\n"), t200)
		default:
			t.Fatalf("attempt %d: got %q, want nothing or the lock with cookie %d", i, got, cookie+1)
		}
	}
	t.Logf("ungated: %d of 20 acquires were processed before the server saw the close", answered)
	healthy(t, h)
	c.finish()
}

// healthy checks that the server still answers on a new connection.
func healthy(t *testing.T, h *harness) {
	t.Helper()
	c := h.dial()
	c.do(rq("PUT", U2, "Timeout: 20\r\nContent-Length: 7\r\n", B7), t200)
	c.do(rq("GET", U2, "", ""), t200g(20, B7, false))
	c.do(rq("DELETE", U2, "", ""), t200)
	c.finish()
}

// headerValue returns the value of the first header called name in a
// response head.
func headerValue(resp, name string) string {
	head, _, _ := strings.Cut(resp, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestConformance(t *testing.T) {
	seen := map[int]bool{}
	for _, r := range conformanceRows {
		if seen[r.n] {
			t.Fatalf("row %d twice", r.n)
		}
		seen[r.n] = true
	}
	for n := 1; n <= 57; n++ {
		if !seen[n] {
			t.Errorf("row %d missing", n)
		}
	}
	for _, r := range conformanceRows {
		t.Run(fmt.Sprintf("%02d_%s", r.n, r.name), func(t *testing.T) {
			t.Parallel()
			r.run(t, newHarness(t))
		})
	}
}
