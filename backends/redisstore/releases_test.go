package redisstore

import (
	"context"
	"strconv"
	"strings"
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
	wa.ExpectWith(a.ExpectRelease)
	notices := make(chan string, 16)
	if err := a.NotifyReleases(func(key string) { notices <- key; wa.Notify(key) }); err != nil {
		t.Fatal(err)
	}
	if err := b.NotifyReleases(func(string) {}); err != nil {
		t.Fatal(err)
	}
	// The subscription is asynchronous: wait until a release is heard.
	key := "app(x)/s1"
	if err := a.ExpectRelease(bg(t), key, time.Second); err != nil {
		t.Fatal(err)
	}
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

	// A's own release is not handed to A (its front end has woken its
	// waiters already): of A's, B's and B's on another key, in the order
	// published, A hears only B's two.
	other := "app(x)/s0"
	if err := a.ExpectRelease(bg(t), other, time.Second); err != nil {
		t.Fatal(err)
	}
	before := publishes(t, srv)
	lockAndRelease(t, a, key)
	lockAndRelease(t, b, key)
	lockAndRelease(t, b, other)
	if n := publishes(t, srv) - before; n != 3 {
		t.Fatalf("%d releases published, want 3", n)
	}
	var heardKeys []string
	for len(heardKeys) == 0 || heardKeys[len(heardKeys)-1] != other {
		select {
		case k := <-notices:
			heardKeys = append(heardKeys, k)
		case <-time.After(5 * time.Second):
			t.Fatalf("heard %q, then nothing for 5s", heardKeys)
		}
	}
	if len(heardKeys) != 2 || heardKeys[0] != key {
		t.Fatalf("A heard %q, want B's releases of %q and %q only", heardKeys, key, other)
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

// publishes is how many PUBLISH commands Redis has run (scripts' included).
func publishes(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info, err := srv.Client().Info(bg(t), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, after, found := strings.Cut(info, "cmdstat_publish:calls=")
	if !found {
		return 0
	}
	n, err := strconv.Atoi(after[:strings.IndexByte(after, ',')])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lockAndRelease locks key through s and releases it, and fails the test
// unless both are answered 200.
func lockAndRelease(t *testing.T, s *Store, key string) {
	t.Helper()
	decide(t, s, key, locking.Request{Op: locking.OpSet, Body: []byte("x")})
	if st, err := decide(t, s, key, locking.Request{Op: locking.OpGetExclusive}); st != 200 {
		t.Fatalf("acquire: %d, %v", st, err)
	}
	if st, err := decide(t, s, key, locking.Request{Op: locking.OpRelease, LockCookie: locking.N(cookieOf(t, s, key))}); st != 200 {
		t.Fatalf("release: %d, %v", st, err)
	}
}

// A release is published only while some gateway expects it: ordinary
// traffic, which releases a lock on nearly every request, sends no notices.
// The interest lasts twice the wait (at least 1 s); a gateway with a shorter
// wait does not cut another's interest short; a Store that wrote the interest
// recently enough does not write it again; and a key with braces, which has
// no interest key of its own slot, is always published.
func TestReleasesArePublishedOnlyWhenExpected(t *testing.T) {
	srv := redistest.Start(t)
	prefix := "test:" + t.Name() + ":"
	a := open(t, srv, func(c *Config) { c.KeyPrefix = prefix })
	b := open(t, srv, func(c *Config) { c.KeyPrefix = prefix })
	for _, s := range []*Store{a, b} {
		if err := s.NotifyReleases(func(string) {}); err != nil {
			t.Fatal(err)
		}
	}
	rc := srv.Client()
	key := "app(x)/s1"
	ik := prefix + "w:{" + prefix + "s:" + key + "}"

	before := publishes(t, srv)
	lockAndRelease(t, b, key)
	if n := publishes(t, srv) - before; n != 0 {
		t.Fatalf("a release nobody expects was published %d times", n)
	}

	if err := a.ExpectRelease(bg(t), key, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if ttl := rc.PTTL(bg(t), ik).Val(); ttl < 5*time.Second || ttl > 6*time.Second {
		t.Fatalf("interest key lives %v after a 3s wait, want 6s", ttl)
	}
	before = publishes(t, srv)
	lockAndRelease(t, b, key)
	if n := publishes(t, srv) - before; n != 1 {
		t.Fatalf("an expected release was published %d times, want 1", n)
	}

	// B waits only 100 ms: its interest (1 s) leaves A's 6 s alone.
	if err := b.ExpectRelease(bg(t), key, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ttl := rc.PTTL(bg(t), ik).Val(); ttl < 5*time.Second {
		t.Fatalf("a shorter wait cut the interest to %v", ttl)
	}
	// A's own interest still covers a 3 s wait: not written again.
	rc.Del(bg(t), ik)
	if err := a.ExpectRelease(bg(t), key, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if rc.Exists(bg(t), ik).Val() != 0 {
		t.Fatal("the interest was written again while the last write still covered the wait")
	}

	// The interest expires: releases are not published any more.
	short := "app(x)/s2"
	if err := a.ExpectRelease(bg(t), short, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ttl := rc.PTTL(bg(t), prefix+"w:{"+prefix+"s:"+short+"}").Val()
	if ttl <= 0 || ttl > time.Second {
		t.Fatalf("interest of a 10ms wait lives %v, want at most the 1s floor", ttl)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	before = publishes(t, srv)
	lockAndRelease(t, b, short)
	if n := publishes(t, srv) - before; n != 0 {
		t.Fatalf("a release after the interest expired was published %d times", n)
	}

	braces := "app{x}/s3"
	before = publishes(t, srv)
	lockAndRelease(t, b, braces)
	if n := publishes(t, srv) - before; n != 1 {
		t.Fatalf("a release of a key with braces was published %d times, want 1 (no interest key for it)", n)
	}
}

// An import that replaces a record (Install with replace) is announced as a
// release, so that a request waiting at another gateway for the replaced
// record's lock runs again and gets the imported record; one that stores
// where nothing was, or a replace nobody waits for, publishes nothing.
func TestReplacingInstallWakesWaitersElsewhere(t *testing.T) {
	srv := redistest.Start(t)
	prefix := "test:" + t.Name() + ":"
	a := open(t, srv, func(c *Config) { c.KeyPrefix = prefix })
	b := open(t, srv, func(c *Config) { c.KeyPrefix = prefix })
	heard := make(chan string, 16)
	if err := a.NotifyReleases(func(key string) { heard <- key }); err != nil {
		t.Fatal(err)
	}
	if err := b.NotifyReleases(func(string) {}); err != nil {
		t.Fatal(err)
	}
	key, fresh, unwatched := "app(x)/locked", "app(x)/new", "app(x)/unwatched"
	for _, k := range []string{key, fresh} {
		if err := a.ExpectRelease(bg(t), k, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	decide(t, b, key, locking.Request{Op: locking.OpSet, Body: []byte("old")})
	if st, _ := decide(t, b, key, locking.Request{Op: locking.OpGetExclusive}); st != 200 {
		t.Fatalf("acquire: %d", st)
	}
	decide(t, b, unwatched, locking.Request{Op: locking.OpSet, Body: []byte("old")})
	expires := time.Now().Add(time.Hour)
	rec := backends.Record{Data: []byte("imported"), Timeout: 20}

	before := publishes(t, srv)
	for _, k := range []string{fresh, unwatched} {
		if ok, err := b.Install(bg(t), k, rec, expires, true); !ok || err != nil {
			t.Fatalf("Install(%s): %v, %v", k, ok, err)
		}
	}
	if n := publishes(t, srv) - before; n != 0 {
		t.Fatalf("installs over no record, or nobody waiting, published %d notices", n)
	}
	if ok, err := b.Install(bg(t), key, rec, expires, true); !ok || err != nil {
		t.Fatalf("Install over the locked record: %v, %v", ok, err)
	}
	if n := publishes(t, srv) - before; n != 1 {
		t.Fatalf("the replace published %d notices, want 1", n)
	}
	// The subscription may not be made yet: replace again until A hears.
	deadline := time.Now().Add(5 * time.Second)
	for got := ""; got != key; {
		select {
		case got = <-heard:
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("A heard no notice of the replace within 5s")
			}
			if _, err := b.Install(bg(t), key, rec, expires, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, _ := get(t, a, key); got.Locked || string(got.Data) != "imported" {
		t.Fatalf("after the import: %+v", got)
	}
}
