package peering

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// fillOwned installs count records owned by nd (in its view) into its own store.
func fillOwned(t *testing.T, nd *Node, prefix string, count int) []string {
	t.Helper()
	var keys []string
	exp := time.Now().Add(time.Hour)
	for i := 0; len(keys) < count; i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if nd.OwnerOf(k) != nd.Self() {
			continue
		}
		if _, err := nd.mover.Install(context.Background(), k, backends.Record{Data: []byte(k), Timeout: 60}, exp, false); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// A caller that stops asking (its fn stalled, or it died) does not keep a
// member's iterator: it is dropped after the idle time, and the caller's
// next request fails naming the member, never a short listing.
func TestWalkIdleIteratorIsFreed(t *testing.T) {
	_, nodes := newMemCluster(t, 3)
	fillOwned(t, nodes[1], "idle", 1000) // several pages
	nodes[1].walks.idle = 100 * time.Millisecond
	seen := 0
	err := nodes[0].Walk(context.Background(), func(key string, _ *backends.Record, _ time.Time) error {
		if nodes[0].OwnerOf(key) == "gw2" {
			if seen == 0 {
				waitFor(t, func() bool { return nodes[1].walks.count() == 0 })
			}
			seen++
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "gw2") || !strings.Contains(err.Error(), "no such walk") {
		t.Fatalf("Walk after the member dropped the idle walk: %v (saw %d of gw2's records)", err, seen)
	}
	if seen >= 1000 {
		t.Fatalf("saw every record although the walk was dropped")
	}
}

// fn's error stops the walk and frees the member's iterator at once.
func TestWalkStoppedEarlyFreesIterator(t *testing.T) {
	_, nodes := newMemCluster(t, 3)
	fillOwned(t, nodes[2], "stop", 700)
	stop := errors.New("enough")
	err := nodes[0].Walk(context.Background(), func(key string, _ *backends.Record, _ time.Time) error {
		if nodes[0].OwnerOf(key) == "gw3" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Walk: %v, want fn's error", err)
	}
	if c := nodes[2].walks.count(); c != 0 {
		t.Fatalf("gw3 still serves %d walks", c)
	}
}

// A member keeps at most maxWalks walks; one more is refused with a clear
// error, and a walk's pages must come in order.
func TestWalkBounds(t *testing.T) {
	_, nodes := newMemCluster(t, 3)
	fillOwned(t, nodes[1], "bound", 600)
	ask := func(id uint64, seq uint32) (byte, string) {
		kind, body, err := nodes[0].call(context.Background(), 1, kindWalk, appendWalkReq(appendView(nil, nodes[0].view.Load().v), id, seq, 0))
		if err != nil {
			t.Fatal(err)
		}
		if kind == kindFailed {
			return kind, string(body[1:])
		}
		return kind, ""
	}
	for id := uint64(1); id <= maxWalks; id++ {
		if k, msg := ask(id, 0); k != kindWalkPage {
			t.Fatalf("walk %d: %d %s", id, k, msg)
		}
	}
	if k, msg := ask(99, 0); k != kindFailed || !strings.Contains(msg, "too many walks") {
		t.Fatalf("walk over the bound: %d %q", k, msg)
	}
	if k, msg := ask(1, 5); k != kindFailed || !strings.Contains(msg, "out of step") {
		t.Fatalf("a page out of order: %d %q", k, msg)
	}
	if c := nodes[1].walks.count(); c != maxWalks-1 {
		t.Fatalf("a walk out of step must be dropped: %d walks", c)
	}
	for id := uint64(2); id <= maxWalks; id++ {
		nodes[0].stopWalk(1, id)
	}
	if c := nodes[1].walks.count(); c != 0 {
		t.Fatalf("%d walks left after stops", c)
	}
}

// oldTransport answers the Mover's kinds as a member built before them does.
type oldTransport struct {
	Transport
	net *memNet
}

func (o oldTransport) Call(ctx context.Context, deadline time.Time, peer string, kind byte, payload []byte) (byte, []byte, error) {
	if kind == kindWalk || kind == kindPeek || kind == kindInstall {
		o.net.mu.Lock()
		n := o.net.nodes[peer]
		o.net.mu.Unlock()
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "unknown request kind"), nil
	}
	return o.Transport.Call(ctx, deadline, peer, kind, payload)
}

func TestMoverOldMemberIsNamed(t *testing.T) {
	_, nodes := newMemClusterWith(t, 3, func(mn *memNet, id string, tr Transport) Transport {
		if id == "gw1" {
			return oldTransport{Transport: tr, net: mn}
		}
		return tr
	})
	fillOwned(t, nodes[1], "old", 1)
	err := nodes[0].Walk(context.Background(), func(string, *backends.Record, time.Time) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "member gw2 does not support walking") || !strings.Contains(err.Error(), "upgrade it") {
		t.Fatalf("Walk with an old member: %v", err)
	}
	var key string
	for i := 0; ; i++ {
		if key = fmt.Sprint("old-peek-", i); nodes[0].OwnerOf(key) == "gw3" {
			break
		}
	}
	if _, _, err := nodes[0].Peek(context.Background(), key); err == nil || errors.Is(err, backends.ErrNotFound) ||
		!strings.Contains(err.Error(), "member gw3 does not support") {
		t.Fatalf("Peek at an old member: %v", err)
	}
	if _, err := nodes[0].Install(context.Background(), key, backends.Record{Data: []byte("x"), Timeout: 1},
		time.Now().Add(time.Minute), false); err == nil || !strings.Contains(err.Error(), "member gw3 does not support") {
		t.Fatalf("Install at an old member: %v", err)
	}
}
