package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// peer owns the link we dial to one member. A manager goroutine, started by
// the first Call, dials, watches the link, and redials with backoff while the
// peer is down, until Close.
type peer struct {
	m        *Mesh
	id, addr string
	kick     chan struct{} // cap 1: a Call wants an attempt now
	back     atomic.Bool   // the peer just linked to us: redial now, backoff reset
	inbound  atomic.Int32  // links the peer has open to us: while > 0 it is alive
	calls    atomic.Uint64
	failures atomic.Uint64

	mu          sync.Mutex // guards the fields below
	started     bool
	c           *conn         // the up link, or nil
	dialing     bool          // an attempt is in progress
	attemptDone chan struct{} // closed (and replaced) when an attempt ends
	lastEnd     time.Time     // when the last attempt ended or the link went down
	since       time.Time
	rtt         time.Duration
	lastErr     string
}

func newPeer(m *Mesh, id, addr string) *peer {
	return &peer{m: m, id: id, addr: addr, kick: make(chan struct{}, 1), attemptDone: make(chan struct{})}
}

// link returns the up link, waiting for at most one dial attempt (bounded by
// ctx and deadline). While the peer is down, Calls within minBackoff of the last failure
// fail at once, so a dead peer costs callers nothing and is not hammered.
func (p *peer) link(ctx context.Context, deadline time.Time) (*conn, error) {
	p.mu.Lock()
	if c := p.c; c != nil {
		p.mu.Unlock()
		if c.isClosed() { // the manager has not noticed yet
			return nil, notSent(p.id, c.err)
		}
		return c, nil
	}
	if !p.started {
		p.dialing = true // the manager's first attempt; wait for it
		if !p.m.goOwned(p.manage) {
			p.mu.Unlock()
			return nil, notSent(p.id, errClosed)
		}
		p.started = true
	}
	// A peer with a link open to us is alive: our own link to it is only
	// catching up (it just restarted), so wait for the attempt rather than
	// fail a request the peer could serve.
	if !p.dialing && time.Since(p.lastEnd) < minBackoff && p.inbound.Load() == 0 {
		err := p.downErr()
		p.mu.Unlock()
		return nil, err
	}
	ch := p.attemptDone
	if !p.dialing {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	if !deadline.IsZero() { // rare: waiting for a link
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, notSent(p.id, fmt.Errorf("waiting for the link: %w", ctx.Err()))
	case <-p.m.ctx.Done():
		return nil, notSent(p.id, errClosed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		return p.c, nil
	}
	return nil, p.downErr()
}

// isBack is called when the peer links to us: it is up again, so a link of
// ours that is down is redialled at once instead of after the backoff, and
// calls for it do not fail for seconds after a restart.
func (p *peer) isBack() {
	p.mu.Lock()
	down := p.started && p.c == nil
	p.mu.Unlock()
	if !down {
		return
	}
	p.back.Store(true)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// downErr is the error for a Call while down; p.mu held.
func (p *peer) downErr() error {
	if p.lastErr == "" {
		return notSent(p.id, errLinkDown)
	}
	return notSent(p.id, fmt.Errorf("%w: %s", errLinkDown, p.lastErr))
}

func (p *peer) manage() {
	backoff := minBackoff
	for {
		select {
		case <-p.kick: // a kick from before this attempt is served by it
		default:
		}
		c, err := p.dial()
		p.mu.Lock()
		p.dialing = false
		p.lastEnd = time.Now()
		close(p.attemptDone)
		p.attemptDone = make(chan struct{})
		prevErr := p.lastErr
		if err == nil {
			p.c, p.since, p.lastErr, p.rtt = c, time.Now(), "", 0
		} else {
			p.lastErr = err.Error()
		}
		p.mu.Unlock()
		if p.m.ctx.Err() != nil {
			if c != nil {
				c.close(errClosed)
				c.wait()
			}
			return
		}
		if err != nil {
			if err.Error() != prevErr && !errors.Is(err, errMembersDiffer) { // that one is logged at ERROR already
				p.m.log.Warn("link: cannot link to peer", "peer", p.id, "addr", p.addr, "err", err)
			}
		} else {
			backoff = minBackoff
			p.m.log.Info("link: linked to peer", "peer", p.id, "addr", p.addr)
			if p.m.cfg.OnLink != nil {
				p.m.cfg.OnLink(p.id, true)
			}
			select {
			case <-c.closed:
			case <-p.m.ctx.Done():
				c.close(errClosed)
			}
			c.wait()
			p.mu.Lock()
			p.c, p.since, p.lastEnd, p.lastErr = nil, time.Now(), time.Now(), c.err.Error()
			p.mu.Unlock()
			if p.m.ctx.Err() != nil {
				return
			}
			p.m.log.Warn("link: link to peer down", "peer", p.id, "addr", p.addr, "reason", c.err)
			if p.m.cfg.OnLink != nil {
				p.m.cfg.OnLink(p.id, false)
			}
		}
		if !p.sleep(backoff) {
			return
		}
		if err != nil {
			backoff = min(2*backoff, maxBackoff)
		}
		if p.back.Swap(false) {
			backoff = minBackoff
		}
		p.mu.Lock()
		p.dialing = true
		p.mu.Unlock()
	}
}

// sleep waits d, or less if a Call kicks (but never less than minBackoff
// since the last attempt). It reports false when the Mesh closes.
func (p *peer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.m.ctx.Done():
		return false
	case <-p.kick:
	}
	p.mu.Lock()
	wait := minBackoff - time.Since(p.lastEnd)
	p.mu.Unlock()
	if wait <= 0 {
		return true
	}
	t.Reset(wait)
	select {
	case <-t.C:
		return true
	case <-p.m.ctx.Done():
		return false
	}
}

// dial makes one attempt: TCP, TLS, hello, all within DeadAfter.
func (p *peer) dial() (*conn, error) {
	m := p.m
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DeadAfter)
	defer cancel()
	dial := m.cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	nc, err := dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	tc := tlsClient(nc, m.clientTLS(p.id))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	// In TLS 1.3 the server checks our certificate after our handshake
	// returns; a refusal shows up as an alert while reading its hello.
	fr, bw, h, err := m.exchangeHello(nc, tc, p.id, true)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := newConn(m, p.id, nc, tc, true)
	c.onRTT = func(d time.Duration) {
		p.mu.Lock()
		p.rtt = d
		p.mu.Unlock()
	}
	if m.cfg.OnHello != nil {
		m.cfg.OnHello(p.id, h.app)
	}
	c.start(fr, bw)
	return c, nil
}

func (p *peer) state() LinkState {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := LinkState{Peer: p.id, Addr: p.addr, Up: p.c != nil, Since: p.since, RTT: p.rtt,
		LastError: p.lastErr, Calls: p.calls.Load(), Failures: p.failures.Load()}
	if p.c != nil && p.c.isClosed() { // closed, the manager not yet told
		ls.Up, ls.LastError = false, p.c.err.Error()
	}
	return ls
}

func sortLinks(ls []LinkState) {
	slices.SortFunc(ls, func(a, b LinkState) int { return strings.Compare(a.Peer, b.Peer) })
}
