package peering_test

import (
	"context"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// Over real mutual-TLS links: an operation through each gateway reaches the
// owner, and a killed owner's keys fail fast (never a 404).
func TestRealLinksForwardAndFailFast(t *testing.T) {
	c := peeringtest.New(t, 3, peeringtest.Options{})
	key := "/LM/W3SVC/1/ROOT(real)"
	owner := c.Owner(0, key)
	req := locking.Request{Op: locking.OpSet, Timeout: locking.N(20), Body: []byte("v")}
	for i, m := range c.Members {
		res, err := m.Node.Route(context.Background(), key, &req, func(cur *backends.Record) backends.Change {
			r, ch := locking.Decide(cur, &req, time.Now())
			_ = r
			return ch
		})
		if err != nil {
			t.Fatalf("via %s: %v", m.ID, err)
		}
		if (i == owner) != (res == nil) {
			t.Fatalf("via %s (owner %d): result %v", m.ID, owner, res)
		}
	}
	c.Kill(owner)
	other := c.Members[(owner+1)%3]
	start := time.Now()
	get := locking.Request{Op: locking.OpGet}
	_, err := other.Node.Route(context.Background(), key, &get, func(*backends.Record) backends.Change {
		t.Error("ran locally")
		return backends.Change{}
	})
	if err == nil {
		t.Fatal("a killed owner's key answered")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failed after %v, want within the request timeout", d)
	}
	t.Logf("failed in %v: %v", time.Since(start), err)
}
