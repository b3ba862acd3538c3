package peering

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/peering/link"
)

// memNet connects nodes of one test by direct calls: the node logic without
// sockets or TLS, with members that can be cut off. (peeringtest runs the
// same nodes over real links with faults.)
type memNet struct {
	mu    sync.Mutex // guards nodes, cut and allow
	nodes map[string]*Node
	cut   map[string]bool
	// allow, when set, lets a call through only if it returns true.
	allow func(from, to string, kind byte) bool
}

type memTransport struct {
	net  *memNet
	self string
}

func (t memTransport) Call(ctx context.Context, deadline time.Time, peer string, kind byte, payload []byte) (byte, []byte, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	n, cut := t.route(peer, kind)
	if n == nil || cut {
		return 0, nil, fmt.Errorf("%s: %w", peer, link.ErrNotSent)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", peer, link.ErrNotSent)
	}
	k, r := n.handle(ctx, t.self, kind, append([]byte(nil), payload...))
	if _, cut := t.route(peer, kind); cut {
		// Cut while the request ran: the reply is lost with the link (and
		// so is the view it carries, which a test may mean this side to
		// miss).
		return 0, nil, fmt.Errorf("%s: reply lost: %w", peer, link.ErrLost)
	}
	return k, r, nil
}

// route returns peer's node and whether a call of kind from this member to
// it is cut.
func (t memTransport) route(peer string, kind byte) (*Node, bool) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	cut := t.net.cut[peer] || t.net.cut[t.self]
	if allow := t.net.allow; allow != nil && !allow(t.self, peer, kind) {
		cut = true
	}
	return t.net.nodes[peer], cut
}

// testLogger sends a member's log to the test's log when -v is given.
func testLogger(t *testing.T, id string) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", id)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newMemCluster starts n memory-backed nodes gw1..gwN.
func newMemCluster(t *testing.T, n int) (*memNet, []*Node) {
	t.Helper()
	return newMemClusterWith(t, n, nil)
}

// newMemClusterWith is newMemCluster with each node's transport replaced by
// wrap's answer before the nodes start (wrap may return tr unchanged).
func newMemClusterWith(t *testing.T, n int, wrap func(mn *memNet, id string, tr Transport) Transport) (*memNet, []*Node) {
	t.Helper()
	mn := &memNet{nodes: map[string]*Node{}, cut: map[string]bool{}}
	var list []string
	for i := 1; i <= n; i++ {
		list = append(list, fmt.Sprintf("gw%d=127.0.0.1:%d", i, 1000+i))
	}
	var nodes []*Node
	for i := 1; i <= n; i++ {
		nodes = append(nodes, mn.add(t, fmt.Sprintf("gw%d", i), list))
	}
	for _, nd := range nodes {
		if wrap != nil {
			nd.SetTransport(wrap(mn, nd.Self(), nd.tr))
		}
	}
	for _, nd := range nodes {
		if err := nd.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return mn, nodes
}

func (mn *memNet) add(t *testing.T, id string, list []string) *Node {
	st, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := New(Config{Self: id, Members: list, TLS: TLSFiles{CAFile: "-", CertFile: "-", KeyFile: "-"},
		Logger: testLogger(t, id)}, st)
	if err != nil {
		t.Fatal(err)
	}
	nd.SetTransport(memTransport{net: mn, self: id})
	mn.mu.Lock()
	mn.nodes[id] = nd
	mn.mu.Unlock()
	t.Cleanup(func() { nd.Close(); st.Close() })
	return nd
}
