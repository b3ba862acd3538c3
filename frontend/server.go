package frontend

import (
	"context"
	"errors"
	"github.com/aspstate/aspstate/backends"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Server answers the ASP.NET state protocol on a listener.
type Server struct {
	cfg Config
	log *slog.Logger

	// ctx is cancelled when Shutdown gives up waiting; backend calls use it.
	ctx    context.Context
	cancel context.CancelFunc

	shuttingDown atomic.Bool
	stats        Stats
	// backendFailures and refusals log repeated failures once with a count.
	backendFailures, refusals *rateLog
	// guard holds the limits on memory and slow clients (budget.go, slow.go).
	guard *guard
	// stableBodies is set when the backend's record bytes outlive Apply
	// (backends.StableData): bodies are then written from the store.
	stableBodies bool
	// borrowKeys is set when the backend keeps nothing of the key string
	// (backends.BorrowedKeys): keys then borrow the read buffer.
	borrowKeys bool
	// allowedNets is the client allow-list (cfg.AllowedNetworks until
	// SetAllowedNetworks replaces it); nil or empty allows any.
	allowedNets atomic.Pointer[[]netip.Prefix]

	mu        sync.Mutex // guards listeners and conns
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one per Serve loop and per connection goroutine
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Backend == nil {
		return nil, errors.New("frontend: backend: required")
	}
	c := cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	sd, ok := c.Backend.(backends.StableData)
	bk, bkOK := c.Backend.(backends.BorrowedKeys)
	s := &Server{
		cfg: c, log: c.Logger, ctx: ctx, cancel: cancel,
		backendFailures: newRateLog(c.Logger, slog.LevelError, "backend failed"),
		refusals:        newRateLog(c.Logger, slog.LevelWarn, "backend refused a request"),
		guard:           newGuard(&c),
		stableBodies:    ok && sd.StableData(),
		borrowKeys:      bkOK && bk.BorrowedKeys(),
		listeners:       map[net.Listener]struct{}{},
		conns:           map[*conn]struct{}{},
	}
	s.allowedNets.Store(&c.AllowedNetworks)
	return s, nil
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("frontend: server closed")

// Serve accepts connections on ln until Shutdown, and then returns
// ErrServerClosed. Temporary accept errors back off instead of spinning.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shuttingDown.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.startConn(nc)
	}
}

// isTemporary covers accept errors such as EMFILE that pass with time.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) startConn(nc net.Conn) {
	if !s.allowed(nc.RemoteAddr()) {
		s.refuse(nc, reasonNotAllowed)
		return
	}
	c := newConn(s, nc)
	s.mu.Lock()
	if s.shuttingDown.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections && !s.evictLocked(time.Now()) {
		s.mu.Unlock()
		s.refuse(nc, reasonTooManyConns)
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.Accepted.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
		defer func() {
			// A bug in one connection must not end every session on the
			// box: log it with its stack and drop only this connection.
			if r := recover(); r != nil {
				nc.Close()
				s.log.Error("panic serving a connection; connection closed", "remote", nc.RemoteAddr().String(),
					"panic", r, "stack", string(debug.Stack()))
			}
		}()
		c.serve()
	}()
}

func (s *Server) allowed(a net.Addr) bool {
	nets := *s.allowedNets.Load()
	if len(nets) == 0 {
		return true
	}
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Shutdown stops accepting, lets requests in flight finish and be answered,
// closes idle connections, and waits for every connection goroutine. When ctx
// ends first, the remaining connections are closed and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.flushLogs()
	s.mu.Lock()
	s.shuttingDown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// flushLogs logs the counts of repeated failures not yet reported.
func (s *Server) flushLogs() {
	s.backendFailures.Flush(context.Background())
	s.refusals.Flush(context.Background())
	s.guard.flush()
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Stats are cumulative counters, safe to read at any time.
type Stats struct {
	Accepted atomic.Int64 // connections accepted
	Rejected atomic.Int64 // connections refused (network or cap)
	Open     atomic.Int64 // connections open now
	// Answers by status, published by each connection in batches (at most
	// about a second late); their sum is the requests answered.
	Status200     atomic.Int64
	Status400     atomic.Int64
	Status404     atomic.Int64
	Status423     atomic.Int64
	BackendErrors atomic.Int64 // requests whose connection was closed because the store failed
	ProtocolErrs  atomic.Int64 // connections closed for unframeable input
	HotDelayed    atomic.Int64 // 423s held because their session was hot (Config.Hot)
	// Requests counts answers by operation and status, and their durations
	// (metrics.go); Closed counts closed connections by CloseReasons.
	Requests RequestStats
	Closed   [len(CloseReasons)]atomic.Int64
}

// statusCounts are one connection's answers not yet added to Stats. Adding
// to shared atomics on every request would bounce their cache line between
// cores; a connection publishes every publishEvery answers, at least once a
// second while busy, and when it closes.
type statusCounts struct {
	n           [4]int64 // 200, 400, 404, 423
	pending     int
	publishedAt time.Time
}

const publishEvery = 64

func (sc *statusCounts) count(code int) {
	switch code {
	case 200:
		sc.n[0]++
	case 400:
		sc.n[1]++
	case 404:
		sc.n[2]++
	case 423:
		sc.n[3]++
	}
	sc.pending++
}

func (sc *statusCounts) maybePublish(st *Stats, now time.Time) {
	if sc.pending >= publishEvery || (sc.pending > 0 && now.Sub(sc.publishedAt) > time.Second) {
		sc.publishedAt = now
		sc.publish(st)
	}
}

func (sc *statusCounts) publish(st *Stats) {
	if sc.pending == 0 {
		return
	}
	for i, c := range []*atomic.Int64{&st.Status200, &st.Status400, &st.Status404, &st.Status423} {
		if sc.n[i] != 0 {
			c.Add(sc.n[i])
		}
	}
	*sc = statusCounts{publishedAt: sc.publishedAt}
}
