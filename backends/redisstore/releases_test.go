package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
	"github.com/aspstate/aspstate/locking"
)

// decide applies req to key on s with the lock rules and returns the status.
func decide(t *testing.T, s *Store, key string, req locking.Request) (int, error) {
	var res locking.Result
	err := s.Apply(bg(t), key, func(cur *backends.Record) backends.Change {
		r, ch := locking.Decide(cur, &req, time.Now())
		res = r
		return ch
	})
	return res.Status, err
}

// Two gateways on one Redis: a request waiting at gateway A for a lock held
// through gateway B is woken when B releases it (a release notice on
// pub/sub), well before its wait ends, and takes the lock. Writes that do
// not release (an acquire) send no notice.
func TestReleaseNoticesWakeAWaiterAtAnotherGateway(t *testing.T) {
	srv := redistest.Start(t)
	prefix := "test:" + t.Name() + ":"
	a := open(t, srv, func(c *Config) { c.KeyPrefix = prefix })
	b := open(t, srv, func(c *Config) { c.KeyPrefix = prefix })
	wa := locking.NewWaiters(locking.WaitConfig{Wait: 3 * time.Second})
	notices := make(chan string, 16)
	if err := a.NotifyReleases(func(key string) { notices <- key; wa.Notify(key) }); err != nil {
		t.Fatal(err)
	}
	if err := b.NotifyReleases(func(string) {}); err != nil {
		t.Fatal(err)
	}
	// The subscription is asynchronous: wait until a release is heard.
	key := "app(x)/s1"
	deadline := time.Now().Add(5 * time.Second)
	for heard := false; !heard; {
		if time.Now().After(deadline) {
			t.Fatal("no release notice within 5s")
		}
		decide(t, b, key, locking.Request{Op: locking.OpSet, Body: []byte("x")})
		decide(t, b, key, locking.Request{Op: locking.OpGetExclusive})
		decide(t, b, key, locking.Request{Op: locking.OpRelease, LockCookie: locking.N(cookieOf(t, b, key))})
		select {
		case <-notices:
			heard = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	for len(notices) > 0 {
		<-notices
	}

	if st, _ := decide(t, b, key, locking.Request{Op: locking.OpGetExclusive}); st != 200 {
		t.Fatalf("acquire at B: %d", st)
	}
	select {
	case k := <-notices:
		t.Fatalf("an acquire sent a release notice for %q", k)
	case <-time.After(50 * time.Millisecond):
	}
	acq := locking.Request{Op: locking.OpGetExclusive}
	if st, _ := decide(t, a, key, acq); st != 423 {
		t.Fatalf("acquire at A: %d, want 423", st)
	}
	done := make(chan error, 1)
	got := make(chan int, 8)
	go func() {
		done <- wa.Await(context.Background(), key, locking.OpGetExclusive, func() (int, error) {
			st, err := decide(t, a, key, acq)
			got <- st
			return st, err
		}, nil)
	}()
	for wa.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	if st, _ := decide(t, b, key, locking.Request{Op: locking.OpRelease, LockCookie: locking.N(cookieOf(t, b, key))}); st != 200 {
		t.Fatalf("release at B: %d", st)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the waiter at A answered %v after B's release: not woken (the wait is 3s)", d)
	}
	last := 0
	for len(got) > 0 {
		last = <-got
	}
	if last != 200 {
		t.Errorf("the waiter's last answer: %d, want 200", last)
	}
	if rec, _ := get(t, a, key); !rec.Locked {
		t.Error("the waiter's lock is not held")
	}
}

func cookieOf(t *testing.T, s *Store, key string) int32 {
	rec, _ := get(t, s, key)
	return rec.LockCookie
}
