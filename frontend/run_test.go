package frontend_test

import (
	"context"
	"testing"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// Run is the protocol operation an operator's tool runs: same rules, same
// waiters. A force-unlock (Release with the cookie a Get's 423 reported)
// wakes a web server waiting for the lock.
func TestRunReleasesAndWakesWaiter(t *testing.T) {
	opt, w := withWait(5*time.Second, 0)
	h := newHarness(t, opt)
	ctx := context.Background()
	key := "/LM/W3SVC/1/ROOT/app(run)"
	if res, err := h.srv.Run(ctx, key, &locking.Request{Op: locking.OpSet, Body: []byte("abc")}); err != nil || res.Status != 200 {
		t.Fatalf("set: %+v %v", res, err)
	}
	x, err := h.srv.Run(ctx, key, &locking.Request{Op: locking.OpGetExclusive})
	if err != nil || x.Status != 200 || !x.HasLockCookie || string(x.Body) != "abc" {
		t.Fatalf("get-exclusive: %+v %v", x, err)
	}
	c := h.dial()
	c.send(rq("GET", "/LM/W3SVC/1/ROOT/app(run)", "Exclusive: acquire\r\n", ""))
	for deadline := time.Now().Add(5 * time.Second); w.Waiting() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the web server's GetExclusive never queued behind the lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	g, err := h.srv.Run(ctx, key, &locking.Request{Op: locking.OpGet})
	if err != nil || g.Status != 423 || g.LockCookie != x.LockCookie {
		t.Fatalf("get while locked: %+v %v (want 423 with cookie %d)", g, err, x.LockCookie)
	}
	if r, err := h.srv.Run(ctx, key, &locking.Request{Op: locking.OpRelease, LockCookie: locking.N(g.LockCookie)}); err != nil || r.Status != 200 {
		t.Fatalf("release: %+v %v", r, err)
	}
	c.expect(t200x(int(x.LockCookie)+1, 20, "abc", false))
}

// A 400 from Validate never reaches the store.
func TestRunValidates(t *testing.T) {
	h := newHarness(t)
	res, err := h.srv.Run(context.Background(), "k", &locking.Request{Op: locking.OpSet, Timeout: locking.N(0)})
	if err != nil || res.Status != 400 {
		t.Fatalf("got %+v %v, want 400", res, err)
	}
}
