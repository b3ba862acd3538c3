package admin

import (
	"context"
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
	Listen string `koanf:"listen" help:"HTTP listener for operators: /metrics, /healthz, /readyz, /peers (empty: off; keep it on loopback or a management network)"`
	Pprof  bool   `koanf:"pprof" default:"false" help:"also serve the Go profiler under /debug/pprof/ on admin.listen"`
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
	Version     string           // the build's version, for aspstate_build_info
	Logger      *slog.Logger
	// ProbeTimeout bounds the readiness probe of the backend (default 2s).
	ProbeTimeout time.Duration
}

// Server is the operators' listener.
type Server struct {
	o     Options
	log   *slog.Logger
	reg   *prometheus.Registry
	store *storeStats
	mux   *http.ServeMux
	hs    *http.Server

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
	s.store = newStoreStats(o.Backend, o.StoreStatsInterval, o.Logger)
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&frontendCollector{srv: o.Frontend, backend: o.BackendName},
		&storeCollector{s: s.store},
		buildInfo(o.Version),
	)
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
	servePage(mux)
	if o.Node != nil {
		servePeers(mux, o.Node, o.Logger)
	}
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
	go s.hs.Serve(ln)
	what := "/metrics, /healthz, /readyz"
	if s.o.Node != nil {
		what += ", /peers"
	}
	if s.o.Pprof {
		what += ", /debug/pprof/"
	}
	s.log.Info("admin listener", "addr", ln.Addr().String(), "serves", what)
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
	return err
}

// Ready reports whether the gateway can answer web servers, and if not why.
func (s *Server) Ready(ctx context.Context) (bool, string) {
	if r := s.notReady.Load(); r != nil {
		return false, *r
	}
	if s.o.Node != nil && !s.o.Node.Status().Serving {
		return false, "peering: not serving (joining the farm, leaving it, or refused by it; see /peers)"
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
// /peers (the view, links and counters; no session data) and POST
// /peers/down?member=ID (an operator declares a member dead).
func servePeers(mux *http.ServeMux, node *peering.Node, log *slog.Logger) {
	writeStatus := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(node.Status())
	}
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) { writeStatus(w) })
	mux.HandleFunc("POST /peers/down", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("member")
		if err := node.DeclareDown(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Warn("operator declared a member down", "member", id, "remote", r.RemoteAddr)
		writeStatus(w)
	})
}

// slogPrinter sends promhttp's errors to the log.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }
