package link

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aspstate/aspstate/internal/rawconn"
)

// Handler answers one request from peer from. It runs on its own goroutine;
// requests from one peer may be handled concurrently. ctx is cancelled when
// the link closes or the Mesh closes; Close waits for handlers to return.
// payload is the handler's to keep; the reply is not modified by the link.
type Handler func(ctx context.Context, from string, kind byte, payload []byte) (replyKind byte, reply []byte)

// Config configures a Mesh. Members must be identical on every member.
type Config struct {
	Self    string            // this member's ID
	Members map[string]string // every member (self included): ID -> "host:port"
	// PEM files, reloaded when their content changes (checked at most about
	// once a second, on handshakes and by a poll), without a restart.
	CAFile, CertFile, KeyFile string
	Handler                   Handler
	// Hello, if set, supplies the app payload sent in each handshake.
	Hello func() []byte
	// OnHello, if set, is called with the peer's hello payload on each new
	// link, in either direction, before the link carries any request.
	OnHello func(peer string, payload []byte)
	// OnLink, if set, is called when the link we dial to peer (the one Call
	// uses) goes up or down. Calls are made in order per peer.
	OnLink func(peer string, up bool)
	// Dial opens the TCP connection; nil: a net.Dialer (DNS resolved on
	// every dial). Tests inject fault layers here.
	Dial              func(ctx context.Context, addr string) (net.Conn, error)
	HeartbeatInterval time.Duration // default 500ms
	DeadAfter         time.Duration // default 1.5s: nothing received for this long => link down
	MaxFrame          int           // default 32 MiB: the largest payload either way
	Logger            *slog.Logger
}

// Defaults.
const (
	DefaultHeartbeatInterval = 500 * time.Millisecond
	DefaultDeadAfter         = 1500 * time.Millisecond
	DefaultMaxFrame          = 32 << 20

	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.Self == "" {
		return errors.New("link: Self is empty")
	}
	if _, ok := c.Members[c.Self]; !ok {
		return fmt.Errorf("link: Self %q is not in Members", c.Self)
	}
	for id, addr := range c.Members {
		if id == "" || strings.ContainsAny(id, ",= \t\r\n") {
			return fmt.Errorf("link: bad member ID %q", id)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("link: member %s: address %q: %w", id, addr, err)
		}
	}
	if c.Handler == nil {
		return errors.New("link: Handler is nil")
	}
	for name, f := range map[string]string{"CAFile": c.CAFile, "CertFile": c.CertFile, "KeyFile": c.KeyFile} {
		if f == "" {
			return fmt.Errorf("link: %s is empty", name)
		}
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = DefaultDeadAfter
	}
	if c.DeadAfter <= c.HeartbeatInterval {
		return fmt.Errorf("link: DeadAfter (%v) must exceed HeartbeatInterval (%v)", c.DeadAfter, c.HeartbeatInterval)
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Mesh is this member's links to every other member.
type Mesh struct {
	cfg     Config
	log     *slog.Logger
	certs   *certStore
	members string // canonical member list, logged on mismatch
	digest  [32]byte
	peers   map[string]*peer // every member but self; fixed at New

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // poll, peer managers, accepted connections

	mu      sync.Mutex // guards closed, lns, inbound
	closed  bool
	lns     map[net.Listener]struct{}
	inbound map[*conn]struct{}
}

// LinkState describes the link we dial to one peer.
type LinkState struct {
	Peer      string
	Addr      string
	Up        bool
	Since     time.Time     // when Up last changed (zero: never dialed)
	RTT       time.Duration // last heartbeat round trip
	LastError string        // why the last attempt failed or the link went down
	Calls     uint64        // Calls made to this peer
	Failures  uint64        // Calls that returned an error
}

// New validates cfg and loads the certificates.
func New(cfg Config) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cur, err := loadCerts(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	m := &Mesh{cfg: cfg, log: cfg.Logger, peers: map[string]*peer{},
		lns: map[net.Listener]struct{}{}, inbound: map[*conn]struct{}{}}
	m.certs = &certStore{caFile: cfg.CAFile, certFile: cfg.CertFile, keyFile: cfg.KeyFile,
		every: certReloadEvery, log: cfg.Logger, cur: cur, lastCheck: time.Now()}
	m.members, m.digest = memberList(cfg.Members)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for id, addr := range cfg.Members {
		if id != cfg.Self {
			m.peers[id] = newPeer(m, id, addr)
		}
	}
	m.wg.Add(1)
	go m.pollCerts()
	return m, nil
}

// pollCerts notices rotated certificates even when no handshake happens, so
// a broken rotation is logged early.
func (m *Mesh) pollCerts() {
	defer m.wg.Done()
	t := time.NewTicker(certReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.certs.get()
		case <-m.ctx.Done():
			return
		}
	}
}

// Serve accepts peers' links on ln until Close, then returns nil. It closes ln.
func (m *Mesh) Serve(ln net.Listener) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ln.Close()
		return errClosed
	}
	m.lns[ln] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.lns, ln)
		m.mu.Unlock()
		ln.Close()
	}()
	delay := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off, do not spin.
				m.log.Warn("link: accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-m.ctx.Done():
					return nil
				}
				delay = min(2*delay, time.Second)
				continue
			}
			return fmt.Errorf("link: accept: %w", err)
		}
		delay = 5 * time.Millisecond
		if !m.goOwned(func() { m.serveConn(nc) }) {
			nc.Close()
			return nil
		}
	}
}

// goOwned runs f on a goroutine Close waits for, unless the Mesh is closed
// (Add under mu, so no Add races Close's Wait).
func (m *Mesh) goOwned(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// serveConn runs one accepted link until it closes.
func (m *Mesh) serveConn(nc net.Conn) {
	addr := nc.RemoteAddr().String()
	tc := tls.Server(rawconn.AsNetConn(nc), m.serverTLS())
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DeadAfter)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		nc.Close()
		if m.ctx.Err() == nil {
			m.log.Warn("link: refused peer", "addr", addr, "reason", err.Error())
		}
		return
	}
	peerID, err := m.memberOf(tc.ConnectionState())
	if err != nil { // VerifyConnection already refused these; belt and braces
		nc.Close()
		m.log.Warn("link: refused peer", "addr", addr, "reason", err.Error())
		return
	}
	fr, bw, h, err := m.exchangeHello(nc, tc, peerID, false)
	if err != nil {
		nc.Close()
		if m.ctx.Err() == nil {
			m.log.Warn("link: refused peer", "addr", addr, "peer", peerID, "reason", err.Error())
		}
		return
	}
	c := newConn(m, peerID, nc, tc, false)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		nc.Close()
		return
	}
	m.inbound[c] = struct{}{}
	m.mu.Unlock()
	if m.cfg.OnHello != nil {
		m.cfg.OnHello(peerID, h.app)
	}
	p := m.peers[peerID]
	if p != nil {
		p.inbound.Add(1)
		defer p.inbound.Add(-1)
		p.isBack()
	}
	m.log.Debug("link: accepted peer", "peer", peerID, "addr", addr)
	c.start(fr, bw)
	c.wait()
	m.mu.Lock()
	delete(m.inbound, c)
	m.mu.Unlock()
	m.log.Debug("link: accepted link closed", "peer", peerID, "addr", addr, "reason", c.err)
}

// errMembersDiffer is the cause when the peer's member list is not ours.
var errMembersDiffer = errors.New("member lists differ")

// exchangeHello runs the handshake's hello exchange within DeadAfter. The
// dialer speaks first; the acceptor answers only once it accepts the
// dialer's hello, so a dialer never takes a refused link for an up one. On a
// member-list mismatch the acceptor still answers, so both sides log both
// lists.
func (m *Mesh) exchangeHello(nc net.Conn, tc *tls.Conn, peerID string, dialer bool) (*frameReader, *bufio.Writer, hello, error) {
	nc.SetDeadline(time.Now().Add(m.cfg.DeadAfter))
	bw := bufio.NewWriterSize(tc, chunkSize+headerSize)
	fr := newFrameReader(tc, m.cfg.MaxFrame)
	send := func() error {
		var app []byte
		if m.cfg.Hello != nil {
			app = m.cfg.Hello()
		}
		mine := hello{version: protocolVersion, id: m.cfg.Self, digest: m.digest, members: m.members, app: app}
		if err := writeMessage(bw, tHello, 0, 0, mine.encode()); err != nil {
			return fmt.Errorf("hello: %w", err)
		}
		return nil
	}
	if dialer {
		if err := send(); err != nil {
			return nil, nil, hello{}, err
		}
	}
	h, err := m.readHello(fr, peerID)
	if !dialer && (err == nil || errors.Is(err, errMembersDiffer)) {
		if serr := send(); err == nil {
			err = serr
		}
	}
	if err != nil {
		return nil, nil, hello{}, err
	}
	nc.SetDeadline(time.Time{})
	return fr, bw, h, nil
}

func (m *Mesh) readHello(fr *frameReader, peerID string) (hello, error) {
	msg, err := fr.next()
	if err != nil {
		return hello{}, fmt.Errorf("hello: %w", err)
	}
	if msg.typ != tHello {
		return hello{}, fmt.Errorf("%w: expected hello, got type %d", errMalformed, msg.typ)
	}
	h, err := decodeHello(msg.payload)
	if err != nil {
		return hello{}, err
	}
	switch {
	case h.version != protocolVersion:
		return hello{}, fmt.Errorf("peer speaks protocol version %d, we speak %d", h.version, protocolVersion)
	case h.id != peerID:
		return hello{}, fmt.Errorf("hello names %q but the certificate names %q", h.id, peerID)
	case h.digest != m.digest:
		m.log.Error("link: member lists differ; refusing the link", "peer", peerID,
			"ours", m.members, "theirs", h.members)
		return hello{}, errMembersDiffer
	}
	return h, nil
}

// Call sends a request to peer and waits for the reply. ctx and, when it is
// not zero, deadline bound the whole call: a deadline costs no timer of its
// own (deadline.go), where ctx's would. Errors wrap ErrNotSent or ErrLost
// (see there) and the cause (context.DeadlineExceeded past the deadline).
func (m *Mesh) Call(ctx context.Context, deadline time.Time, peer string, kind byte, payload []byte) (byte, []byte, error) {
	p := m.peers[peer]
	if p == nil {
		if peer == m.cfg.Self {
			return 0, nil, notSent(peer, errors.New("is this member"))
		}
		return 0, nil, notSent(peer, errors.New("not a member"))
	}
	p.calls.Add(1)
	k, r, err := m.call(ctx, deadline, p, kind, payload)
	if err != nil {
		p.failures.Add(1)
	}
	return k, r, err
}

func (m *Mesh) call(ctx context.Context, deadline time.Time, p *peer, kind byte, payload []byte) (byte, []byte, error) {
	if m.ctx.Err() != nil {
		return 0, nil, notSent(p.id, errClosed)
	}
	if len(payload) > m.cfg.MaxFrame {
		return 0, nil, notSent(p.id, errTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, notSent(p.id, err)
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return 0, nil, notSent(p.id, context.DeadlineExceeded)
	}
	c, err := p.link(ctx, deadline)
	if err != nil {
		return 0, nil, err
	}
	return c.call(ctx, deadline, kind, payload)
}

// Links reports the state of the link to every other member, sorted by ID.
func (m *Mesh) Links() []LinkState {
	out := make([]LinkState, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, p.state())
	}
	sortLinks(out)
	return out
}

// Close stops accepting, closes every link (pending calls fail), waits for
// every goroutine (handlers included) and returns. It is idempotent.
func (m *Mesh) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.closed = true
	m.cancel()
	for ln := range m.lns {
		ln.Close()
	}
	for c := range m.inbound {
		c.close(errClosed)
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}
