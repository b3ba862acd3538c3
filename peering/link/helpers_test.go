package link

import (
	"context"
	"errors"
	"github.com/aspstate/aspstate/internal/testlog"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/peering/pki"
)

// syncBuffer is a log destination the code under test writes from its own goroutines.
type syncBuffer = testlog.Buffer

// farm is a CA and certificate files in a temp dir.
type farm struct {
	t   testing.TB
	dir string
	ca  *pki.CA
}

func newFarm(t testing.TB) *farm {
	t.Helper()
	ca, err := pki.NewCA("test CA", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &farm{t: t, dir: t.TempDir(), ca: ca}
	if err := ca.Write(f.caFile(), filepath.Join(f.dir, "ca-key.pem"), true); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *farm) caFile() string { return filepath.Join(f.dir, "ca.pem") }

// files writes kp as the certificate of file name and returns the paths.
func (f *farm) write(name string, kp *pki.KeyPair) (cert, key string) {
	f.t.Helper()
	cert, key = filepath.Join(f.dir, name+".pem"), filepath.Join(f.dir, name+"-key.pem")
	if err := kp.Write(cert, key, true); err != nil {
		f.t.Fatal(err)
	}
	return cert, key
}

func (f *farm) issue(id string) *pki.KeyPair {
	f.t.Helper()
	kp, err := f.ca.Issue(id, pki.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	return kp
}

// node is one running Mesh.
type node struct {
	*Mesh
	id   string
	ln   net.Listener
	log  *syncBuffer
	done chan error
}

// listeners opens one loopback listener per ID and the member map.
func listeners(t testing.TB, ids ...string) (map[string]net.Listener, map[string]string) {
	t.Helper()
	lns := map[string]net.Listener{}
	members := map[string]string{}
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		members[id] = ln.Addr().String()
	}
	return lns, members
}

// start runs a Mesh for cfg.Self on ln with certificate files named after
// it (written from the farm if absent). mod adjusts the config.
func (f *farm) start(t testing.TB, ln net.Listener, members map[string]string, self string, h Handler, mod func(*Config)) *node {
	t.Helper()
	cert, key := filepath.Join(f.dir, self+".pem"), filepath.Join(f.dir, self+"-key.pem")
	if _, err := pki.Load(cert, key); err != nil {
		f.write(self, f.issue(self))
	}
	log := &syncBuffer{}
	if h == nil {
		h = echo
	}
	cfg := Config{Self: self, Members: members, CAFile: f.caFile(), CertFile: cert, KeyFile: key,
		Handler: h, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.certs.mu.Lock() // pollCerts already reads it
	m.certs.every = 0 // reread on every handshake: rotation tests need no sleep
	m.certs.mu.Unlock()
	n := &node{Mesh: m, id: self, ln: ln, log: log, done: make(chan error, 1)}
	go func() { n.done <- m.Serve(ln) }()
	t.Cleanup(func() {
		m.Close()
		if err := <-n.done; err != nil {
			t.Errorf("Serve %s: %v", self, err)
		}
	})
	return n
}

// echo answers kind k with kind k+1 and the payload.
func echo(ctx context.Context, from string, kind byte, p []byte) (byte, []byte) {
	return kind + 1, p
}

func callOK(t *testing.T, n *node, peer string, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, r, err := n.Call(ctx, time.Time{}, peer, 7, []byte(payload))
	if err != nil {
		t.Fatalf("%s -> %s: %v", n.id, peer, err)
	}
	if k != 8 || string(r) != payload {
		t.Fatalf("%s -> %s: got kind %d %q, want 8 %q", n.id, peer, k, r, payload)
	}
}

// eventually retries a call until it succeeds or 10 s pass.
func eventually(t *testing.T, n *node, peer string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, err := n.Call(ctx, time.Time{}, peer, 7, []byte("x"))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -> %s never succeeded: %v", n.id, peer, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustFail checks err wraps want and not the other sentinel.
func mustFail(t *testing.T, err, want error) {
	t.Helper()
	other := ErrLost
	if want == ErrLost {
		other = ErrNotSent
	}
	if !errors.Is(err, want) || errors.Is(err, other) {
		t.Fatalf("err = %v, want it to wrap %v only", err, want)
	}
}

// waitLog waits for substr in n's log.
func waitLog(t *testing.T, n *node, substr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n.log.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s log lacks %q:\n%s", n.id, substr, n.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range strings.Split(n.log.String(), "\n") {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}
