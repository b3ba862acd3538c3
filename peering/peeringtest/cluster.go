package peeringtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering"
	"github.com/aspstate/aspstate/peering/link/linktest"
	"github.com/aspstate/aspstate/peering/pki"
)

// Options shape a Cluster. The zero value gives memory stores, no frontends,
// the real clock and the default timeouts.
type Options struct {
	// Store opens member id's store; called again on Restart with fresh=false.
	// nil: a new memstore each time.
	Store func(t testing.TB, id string, fresh bool) backends.Backend
	// Frontends starts a protocol server on 127.0.0.1:0 for each member.
	Frontends bool
	// Now is every member's clock (nil: time.Now).
	Now            func() time.Time
	RequestTimeout time.Duration
	DrainTimeout   time.Duration
	// DeadAfter and Lease: peering.dead_after and peering.lease (0: defaults).
	DeadAfter, Lease time.Duration
	// RestartGrace: peering.restart_grace (0: the default).
	RestartGrace time.Duration
	// LockWait turns the lock wait on (locking.wait) on every member.
	LockWait time.Duration
	// Log receives every member's log (nil: discarded unless -v... discarded).
	Log io.Writer
}

// Cluster is a running farm.
type Cluster struct {
	t       testing.TB
	opts    Options
	dir     string
	list    []string // "id=host:port", the peering.members value
	Members []*Member
	// faults[i][j] acts on the connection member i dials to member j.
	faults [][]*linktest.Faults
}

// Member is one gateway of the farm.
type Member struct {
	ID    string
	Addr  string // peer listener
	Node  *peering.Node
	Store backends.Backend
	// Front is the member's protocol server, FrontAddr its address (Frontends).
	Front     *frontend.Server
	FrontAddr string
	// Waits is the member's lock-wait registry (nil unless Options.LockWait).
	Waits *locking.Waiters

	c       *Cluster
	idx     int
	peerLn  net.Listener
	frontLn net.Listener
	stopped bool
	serveWG sync.WaitGroup
}

// New starts n members, gw1..gwN, and waits until each has started.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts, dir: t.TempDir()}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("gw%d", i+1)
	}
	if err := pki.WriteFarm(c.dir, ids, nil, true); err != nil {
		t.Fatalf("peeringtest: certificates: %v", err)
	}
	c.faults = make([][]*linktest.Faults, n)
	for i := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := &Member{ID: ids[i], Addr: ln.Addr().String(), c: c, idx: i, peerLn: ln}
		c.Members = append(c.Members, m)
		c.list = append(c.list, m.ID+"="+m.Addr)
		c.faults[i] = make([]*linktest.Faults, n)
		for j := range ids {
			c.faults[i][j] = linktest.New()
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range c.Members {
		if err := m.open(true); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.Node.Start(context.Background()) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("peeringtest: start %s: %v", c.Members[i].ID, err)
		}
	}
	for _, m := range c.Members {
		m.startFront()
	}
	t.Cleanup(c.Close)
	return c
}

// MembersValue is the peering.members list of the farm.
func (c *Cluster) MembersValue() []string { return c.list }

// Dir holds the farm's certificates: ca.pem, gwN.pem, gwN-key.pem.
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) logger(id string) *slog.Logger {
	if c.opts.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(c.opts.Log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", id)
}

// open makes the member's store (fresh or reopened) and node.
func (m *Member) open(fresh bool) error {
	c := m.c
	if c.opts.Store != nil {
		m.Store = c.opts.Store(c.t, m.ID, fresh)
	} else if fresh || m.Store == nil {
		st, err := memstore.New(memstore.Config{Now: c.opts.Now})
		if err != nil {
			return err
		}
		m.Store = st
	}
	if m.peerLn == nil {
		ln, err := listenAgain(m.Addr)
		if err != nil {
			return err
		}
		m.peerLn = ln
	}
	byAddr := map[string]int{}
	for _, o := range c.Members {
		byAddr[o.Addr] = o.idx
	}
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		j, ok := byAddr[addr]
		if !ok {
			return nil, fmt.Errorf("peeringtest: unknown address %s", addr)
		}
		return c.faults[m.idx][j].Dial(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		})(ctx, addr)
	}
	m.Waits = nil
	if c.opts.LockWait > 0 {
		m.Waits = locking.NewWaiters(locking.WaitConfig{Wait: c.opts.LockWait})
	}
	node, err := peering.New(peering.Config{
		Self: m.ID, Members: c.list, Listener: m.peerLn, Dial: dial,
		TLS: peering.TLSFiles{CAFile: filepath.Join(c.dir, "ca.pem"),
			CertFile: filepath.Join(c.dir, m.ID+".pem"), KeyFile: filepath.Join(c.dir, m.ID+"-key.pem")},
		RequestTimeout: c.opts.RequestTimeout, DrainTimeout: c.opts.DrainTimeout,
		DeadAfter: c.opts.DeadAfter, Lease: c.opts.Lease, RestartGrace: c.opts.RestartGrace,
		Now: c.opts.Now, Logger: c.logger(m.ID), Waits: m.Waits,
	}, m.Store)
	if err != nil {
		return err
	}
	m.Node = node
	m.stopped = false
	return nil
}

// listenAgain listens on a member's old address; the port may take a moment
// to be free after a stop.
func listenAgain(addr string) (net.Listener, error) {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

func (m *Member) startFront() {
	if !m.c.opts.Frontends {
		return
	}
	srv, err := frontend.New(frontend.Config{Backend: m.Store, Router: m.Node, Now: m.c.opts.Now,
		Logger: m.c.logger(m.ID), Waits: m.Waits})
	if err != nil {
		m.c.t.Fatal(err)
	}
	ln := m.frontLn
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			m.c.t.Fatal(err)
		}
	} else if ln, err = listenAgain(m.FrontAddr); err != nil {
		m.c.t.Fatal(err)
	}
	m.Front, m.frontLn, m.FrontAddr = srv, ln, ln.Addr().String()
	m.serveWG.Add(1)
	go func() { defer m.serveWG.Done(); srv.Serve(ln) }()
}

// Fault returns the switches for the connection member i dials to member j
// (i's calls to j and their answers).
func (c *Cluster) Fault(i, j int) *linktest.Faults { return c.faults[i][j] }

// Cut isolates the two groups from each other (both directions); Heal undoes
// every fault.
func (c *Cluster) Cut(a, b []int) {
	for _, i := range a {
		for _, j := range b {
			c.faults[i][j].Pause(true)
			c.faults[j][i].Pause(true)
		}
	}
}

// Isolate pauses every link of member i both ways: to its peers it looks
// stopped (SIGSTOP), while it runs on and sees its peers silent.
func (c *Cluster) Isolate(i int) {
	for j := range c.faults {
		if j != i {
			c.faults[i][j].Pause(true)
			c.faults[j][i].Pause(true)
		}
	}
}

// Heal turns every fault switch off.
func (c *Cluster) Heal() {
	for i := range c.faults {
		for j := range c.faults[i] {
			c.faults[i][j].Reset()
		}
	}
}

// Kill stops member i abruptly: no drain, its links reset, its frontend
// closed, as kill -9 would leave the farm. Its store stays open for Restart
// (a durable store keeps its data; a memory store is replaced on Restart).
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	if m.stopped {
		return
	}
	m.stopped = true
	for j := range c.faults {
		c.faults[i][j].Drop()
		c.faults[j][i].Drop()
	}
	if m.Front != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		m.Front.Shutdown(ctx)
		cancel()
		m.serveWG.Wait()
	}
	m.Node.Close()
	m.peerLn = nil
}

// Stop runs member i's planned stop for a restart, as aspstated does on
// SIGTERM over a durable store: it announces the restart (the others hold
// requests for its keys), closes its frontend and its node. Its store stays
// open for Restart.
func (c *Cluster) Stop(i int) {
	m := c.Members[i]
	if m.stopped {
		return
	}
	m.Node.AnnounceRestart(context.Background())
	if m.Front != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.Front.Shutdown(ctx)
		cancel()
		m.serveWG.Wait()
	}
	m.Node.Close()
	m.stopped = true
	m.peerLn = nil
}

// Restart starts a killed, stopped or drained member again. fresh gives it an empty
// store (a memory store always comes back empty).
func (c *Cluster) Restart(i int, fresh bool) {
	c.t.Helper()
	m := c.Members[i]
	if !m.stopped {
		c.Kill(i)
	}
	if c.opts.Store == nil {
		fresh = true
	}
	if m.Store != nil && c.opts.Store != nil {
		m.Store.Close() // a durable store is reopened from its files (fresh: new ones)
	}
	if err := m.open(fresh); err != nil {
		c.t.Fatal(err)
	}
	if err := m.Node.Start(context.Background()); err != nil {
		c.t.Fatalf("peeringtest: restart %s: %v", m.ID, err)
	}
	m.startFront()
}

// Drain runs a member's planned shutdown: leave the view, hand every record
// over, then stop. It returns the records left behind.
func (c *Cluster) Drain(i int) int {
	c.t.Helper()
	m := c.Members[i]
	left, err := m.Node.Leave(context.Background())
	if err != nil {
		c.t.Fatalf("peeringtest: drain %s: %v", m.ID, err)
	}
	if m.Front != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.Front.Shutdown(ctx)
		cancel()
		m.serveWG.Wait()
	}
	m.Node.Close()
	m.stopped = true
	m.peerLn = nil
	return left
}

// Close stops every member and closes the stores.
func (c *Cluster) Close() {
	for i, m := range c.Members {
		if !m.stopped {
			c.Kill(i)
		}
		if m.Store != nil {
			m.Store.Close()
		}
	}
}

// Owner returns the index of the member that owns key in member i's view.
func (c *Cluster) Owner(i int, key string) int {
	id := c.Members[i].Node.OwnerOf(key)
	for j, m := range c.Members {
		if m.ID == id {
			return j
		}
	}
	return -1
}
