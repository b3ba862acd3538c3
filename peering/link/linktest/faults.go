// Package linktest injects network faults under peer links, for tests of
// package link and of clusters built on it.
//
// A Faults wraps the connections made by Config.Dial (Faults.Dial) or
// accepted from a listener (Faults.Listen). Its switches apply at once to
// every connection it wraps, current and future: Drop resets them, Refuse
// fails new dials, Delay slows writes, Pause stops bytes both ways, and
// LoseOut/LoseIn discard one direction silently. Waits honour deadlines and
// end when the connection is closed, so a link's own timeouts keep working.
package linktest

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Faults is a set of fault switches shared by the connections it wraps.
type Faults struct {
	mu      sync.Mutex // guards everything below
	conns   map[*Conn]struct{}
	refuse  bool
	delay   time.Duration
	paused  bool
	resume  chan struct{} // closed when Pause(false)
	loseOut bool
	loseIn  bool
}

// New returns a Faults with every switch off.
func New() *Faults {
	return &Faults{conns: map[*Conn]struct{}{}, resume: make(chan struct{})}
}

// Dial wraps dial (nil: a net.Dialer) so its connections obey f.
func (f *Faults) Dial(dial func(ctx context.Context, addr string) (net.Conn, error)) func(ctx context.Context, addr string) (net.Conn, error) {
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		f.mu.Lock()
		refuse := f.refuse
		f.mu.Unlock()
		if refuse {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		c, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		return f.Wrap(c), nil
	}
}

// Listen wraps ln so the connections it accepts obey f.
func (f *Faults) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, f: f} }

type listener struct {
	net.Listener
	f *Faults
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.f.Wrap(c), nil
}

// Wrap makes c obey f.
func (f *Faults) Wrap(c net.Conn) *Conn {
	w := &Conn{Conn: c, f: f, closed: make(chan struct{})}
	f.mu.Lock()
	f.conns[w] = struct{}{}
	f.mu.Unlock()
	return w
}

// Drop closes every wrapped connection abruptly (a TCP reset where
// possible), as a killed process would.
func (f *Faults) Drop() {
	f.mu.Lock()
	conns := make([]*Conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// Refuse makes new dials fail with "connection refused" (on) or work (off).
func (f *Faults) Refuse(on bool) { f.set(func() { f.refuse = on }) }

// Delay holds each write for d before passing it on (0: off).
func (f *Faults) Delay(d time.Duration) { f.set(func() { f.delay = d }) }

// Pause stops bytes in both directions (reads and writes block) until
// Pause(false): a peer that is alive at the TCP level but silent.
func (f *Faults) Pause(on bool) {
	f.set(func() {
		if on == f.paused {
			return
		}
		f.paused = on
		if !on {
			close(f.resume)
			f.resume = make(chan struct{})
		}
	})
}

// LoseOut silently discards what wrapped connections write (one-way loss).
func (f *Faults) LoseOut(on bool) { f.set(func() { f.loseOut = on }) }

// LoseIn silently discards what wrapped connections receive (one-way loss).
func (f *Faults) LoseIn(on bool) { f.set(func() { f.loseIn = on }) }

// Reset turns every switch off.
func (f *Faults) Reset() {
	f.Refuse(false)
	f.Delay(0)
	f.Pause(false)
	f.LoseOut(false)
	f.LoseIn(false)
}

func (f *Faults) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

// Conn is a connection obeying a Faults.
type Conn struct {
	net.Conn
	f         *Faults
	closeOnce sync.Once
	closed    chan struct{}

	mu            sync.Mutex // guards the deadlines and held
	readDeadline  time.Time
	writeDeadline time.Time
	held          []byte // read while paused, delivered on resume
}

var errTimeout = os.ErrDeadlineExceeded

// waitFlowing blocks while paused, until resume, close or deadline.
func (c *Conn) waitFlowing(deadline func() time.Time) error {
	for {
		c.f.mu.Lock()
		paused, resume := c.f.paused, c.f.resume
		c.f.mu.Unlock()
		if !paused {
			return nil
		}
		var timeout <-chan time.Time
		c.mu.Lock()
		d := deadline()
		c.mu.Unlock()
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-resume:
		case <-c.closed:
			return net.ErrClosed
		case <-timeout:
			return errTimeout
		}
	}
}

func (c *Conn) Read(b []byte) (int, error) {
	for {
		if err := c.waitFlowing(func() time.Time { return c.readDeadline }); err != nil {
			return 0, err
		}
		c.mu.Lock()
		if len(c.held) > 0 {
			n := copy(b, c.held)
			c.held = c.held[n:]
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
		n, err := c.Conn.Read(b)
		c.f.mu.Lock()
		paused, loseIn := c.f.paused, c.f.loseIn
		c.f.mu.Unlock()
		switch {
		case n > 0 && loseIn:
			if err != nil {
				return 0, err
			}
			continue
		case n > 0 && paused:
			// Arrived as the pause began: hold it until resume.
			c.mu.Lock()
			c.held = append(c.held, b[:n]...)
			c.mu.Unlock()
			if err != nil {
				return 0, err
			}
			continue
		}
		return n, err
	}
}

func (c *Conn) Write(b []byte) (int, error) {
	if err := c.waitFlowing(func() time.Time { return c.writeDeadline }); err != nil {
		return 0, err
	}
	c.f.mu.Lock()
	delay, loseOut := c.f.delay, c.f.loseOut
	c.f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	if loseOut {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}
