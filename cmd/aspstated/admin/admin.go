package admin

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/peering"
)

// Config is the admin section of the gateway's configuration.
type Config struct {
	Listen string `koanf:"listen" help:"HTTP listener for operators: /metrics, /healthz, /readyz, /peers, /api/ (empty: off; keep it on loopback or a management network)"`
	// TokenFile holds the operators' token (its first line): the session
	// API's reads of session IDs and contents, and every action, need it.
	TokenFile string `koanf:"token_file" help:"file whose first line is the token the session API and every action on admin.listen require (Authorization: Bearer); SIGHUP reads it again"`
	Pprof     bool   `koanf:"pprof" default:"false" help:"also serve the Go profiler under /debug/pprof/ on admin.listen"`
	// StoreStatsInterval bounds how often a scrape may start a walk of the
	// store for the gauges that need one.
	StoreStatsInterval time.Duration `koanf:"store_stats_interval" default:"30s" help:"at most one walk of the store per interval for the locks and bytes gauges"`
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("admin: listen: %q is not host:port", c.Listen)
		}
	}
	if c.TokenFile != "" {
		if _, err := readToken(c.TokenFile); err != nil {
			return fmt.Errorf("admin: token_file: %v", err)
		}
	}
	if c.StoreStatsInterval < time.Second {
		return fmt.Errorf("admin: store_stats_interval: %v is too short (at least 1s)", c.StoreStatsInterval)
	}
	return nil
}

// Options are what the listener reports on.
type Options struct {
	Config
	Frontend    *frontend.Server // required
	Backend     backends.Backend // required: the local store
	BackendName string           // backend.type, the backend label
	Node        *peering.Node    // nil without peering
	// Sessions is what the session API walks, reads and installs into: the
	// whole farm (peering's Node) with peering, else the store. Nil: the
	// session API answers 503.
	Sessions backends.Mover
	// EffectiveConfig is the configuration in effect, flattened keys,
	// secrets already masked, for the overview.
	EffectiveConfig map[string]any
	Version         string // the build's version, for aspstate_build_info
	Logger          *slog.Logger
	// ProbeTimeout bounds the readiness probe of the backend (default 2s).
	ProbeTimeout time.Duration
}

// Server is the operators' listener.
type Server struct {
	o     Options
	log   *slog.Logger
	reg   *prometheus.Registry
	store *storeStats // the metrics' walks, of the local store
	farm  *storeStats // the overview's walks, of Sessions (may be store)
	mux   *http.ServeMux

	token    atomic.Pointer[[sha256.Size]byte] // SHA-256 of the token; nil: admin.token_file not set
	loopback atomic.Bool                       // the listener's host is a loopback address
	rates    rateState                         // the overview's request rates
	hs       *http.Server

	notReady atomic.Pointer[string] // set by SetNotReady: a reason that overrides the probes

	mu sync.Mutex // guards ln
	ln net.Listener
}

// New builds the listener's handlers; Serve starts it.
func New(o Options) (*Server, error) {
	if o.Frontend == nil || o.Backend == nil {
		return nil, errors.New("admin: Frontend and Backend are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 2 * time.Second
	}
	if o.StoreStatsInterval <= 0 {
		o.StoreStatsInterval = 30 * time.Second
	}
	s := &Server{o: o, log: o.Logger, reg: prometheus.NewRegistry()}
	if err := s.SetTokenFile(o.TokenFile); err != nil {
		return nil, err
	}
	s.loopback.Store(isLoopback(o.Listen))
	// One walk serves the metrics and the overview when both look at the
	// same store; with peering (or Redis, which the metrics do not walk)
	// the overview has walks of its own.
	mw := metricsWalker(o.Backend)
	same := o.Sessions != nil && mw != nil && any(o.Sessions) == any(o.Backend)
	s.store = newStoreStats(o.Backend, mw, same, o.StoreStatsInterval, o.Logger)
	s.farm = s.store
	if o.Sessions != nil && !same {
		s.farm = newStoreStats(o.Backend, o.Sessions, true, o.StoreStatsInterval, o.Logger)
	}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&frontendCollector{srv: o.Frontend, backend: o.BackendName},
		&storeCollector{s: s.store},
		buildInfo(o.Version),
	)
	s.reg.MustRegister(backendCollectors(o.Backend)...)
	if rc := redisCollectorFor(o.Backend); rc != nil {
		s.reg.MustRegister(rc)
	}
	if o.Node != nil {
		s.reg.MustRegister(&peeringCollector{node: o.Node})
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{o.Logger}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.servePage(mux)
	if o.Node != nil {
		s.servePeers(mux)
	}
	s.serveAPI(mux)
	if o.Pprof {
		// Not pprof.Cmdline: the command line can carry a password.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	}
	s.mux = mux
	s.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	return s, nil
}

// Handler returns the listener's handler (for tests).
func (s *Server) Handler() http.Handler { return s.mux }

// Listen opens addr and serves on it in a goroutine; it returns the address.
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.loopback.Store(isLoopback(addr))
	go s.hs.Serve(ln)
	what := "/metrics, /healthz, /readyz, /api/"
	if s.o.Node != nil {
		what += ", /peers"
	}
	if s.o.Pprof {
		what += ", /debug/pprof/"
	}
	s.log.Info("admin listener", "addr", ln.Addr().String(), "serves", what,
		"loopback", s.loopback.Load(), "token", s.token.Load() != nil)
	if !s.loopback.Load() && s.token.Load() == nil {
		s.log.Warn("admin.listen is not a loopback address and admin.token_file is not set: the overview and /peers answer 401, the session API 403; set admin.token_file",
			"admin.listen", addr)
	}
	return ln.Addr(), nil
}

// SetNotReady makes /readyz fail with reason from now on (the gateway calls
// it when shutting down); "" clears it.
func (s *Server) SetNotReady(reason string) {
	if reason == "" {
		s.notReady.Store(nil)
		return
	}
	s.notReady.Store(&reason)
}

// Shutdown stops the listener and any store walk in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	s.store.close()
	s.farm.close()
	return err
}

// Ready reports whether the gateway can answer web servers, and if not why.
func (s *Server) Ready(ctx context.Context) (bool, string) {
	if r := s.notReady.Load(); r != nil {
		return false, *r
	}
	if s.o.Node != nil {
		// Not only Serving: without the lease (a majority out of reach) every
		// operation fails, and a load balancer must stop sending traffic.
		if st := s.o.Node.Status(); !st.Serving || st.NotServing != "" {
			return false, "peering: not serving: " + st.NotServing + " (see /peers)"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.ProbeTimeout)
	defer cancel()
	if err := s.o.Backend.Apply(ctx, probeKey, keep); err != nil {
		return false, fmt.Sprintf("backend %s cannot answer: %v", s.o.BackendName, err)
	}
	return true, ""
}

// probeKey is the key the readiness probe reads; the probe never writes it.
const probeKey = "aspstate-readyz-probe"

func keep(*backends.Record) backends.Change { return backends.Change{Action: backends.Keep} }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok, why := s.Ready(r.Context()); !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", why)
		return
	}
	fmt.Fprintln(w, "ready")
}

// servePeers adds the peering endpoints that `aspstate peers` uses: GET
// /peers (the view, links and counters; no session data; the overview's
// access rule) and POST /peers/down?member=ID (an operator declares a member
// dead; the token's rule).
func (s *Server) servePeers(mux *http.ServeMux) {
	node := s.o.Node
	writeStatus := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(node.Status())
	}
	mux.HandleFunc("GET /peers", s.guard(overviewAccess, func(w http.ResponseWriter, r *http.Request) { writeStatus(w) }))
	mux.HandleFunc("POST /peers/down", s.guard(tokenAccess, func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("member")
		if err := node.DeclareDown(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.log.Warn("operator declared a member down", "member", id, "remote", r.RemoteAddr)
		writeStatus(w)
	}))
}

// slogPrinter sends promhttp's errors to the log.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }
