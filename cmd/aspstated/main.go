package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/cmd/aspstated/admin"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering"
)

func main() {
	// A closed stderr must not kill the server: writes to it fail instead.
	signal.Ignore(syscall.SIGPIPE)
	// Windows: `aspstated service ...` and the run under the service manager
	// (service_windows.go); elsewhere this does nothing.
	if code, handled := platformMain(os.Args[1:]); handled {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, runEnv{args: os.Args[1:], environ: os.Environ(), stdout: os.Stdout, stderr: os.Stderr, gomaxprocs: runtime.GOMAXPROCS}))
}

// runEnv is everything run takes from the process, so tests can run the real
// server in-process.
type runEnv struct {
	args    []string
	environ []string
	stdout  io.Writer
	stderr  io.Writer
	// ready, if set, is called with the listening address once serving
	// (and the admin listener's, or nil, as adminAddr).
	ready func(net.Addr)
	// adminReady, if set, is called with admin.listen's address once it
	// serves, before ready.
	adminReady func(net.Addr)
	// hup delivers reload requests; nil: SIGHUP.
	hup <-chan os.Signal
	// gomaxprocs is runtime.GOMAXPROCS, for shareCores; nil (tests that run
	// the server in their own process) leaves the runtime alone.
	gomaxprocs func(int) int
}

// run starts the gateway and serves until ctx is cancelled; it returns the
// process exit code: 0 after a clean shutdown, 1 on a runtime failure, 2 on
// bad configuration (found before anything is opened).
func run(ctx context.Context, env runEnv) int {
	cfg, k, opt, fs, err := loadConfig(env.args, env.environ)
	if opt.help {
		fmt.Fprintf(env.stdout, "Usage: aspstated [--config FILE] [--key value ...]\n\n%s", fs.FlagUsages())
		return 0
	}
	if opt.version {
		fmt.Fprintln(env.stdout, versionLine())
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
		return 2
	}
	if opt.printConfig {
		if err := printConfig(k, env.stdout); err != nil {
			fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
			return 1
		}
		return 0
	}
	logOut := newLogWriter(env.stderr) // never blocks or fails (logwriter.go)
	defer logOut.Close(2 * time.Second)
	level := new(slog.LevelVar)
	log := newLogger(cfg, level, logOut)
	shareCores(ctx, env, cfg, log)
	if cfg.Debug.Listen != "" {
		if cfg.Admin.Listen == "" {
			cfg.Admin.Listen = cfg.Debug.Listen
		}
		log.Warn("debug.listen is deprecated: use admin.listen (it no longer serves /stats; use /metrics)", "admin.listen", cfg.Admin.Listen)
	}
	if cfg.Backend.Type == "redis" {
		routeRedisLogs(log)
	}
	be, err := openBackend(&cfg.Backend, int(cfg.Server.Limits.MaxBodyBytes), log)
	if err != nil {
		log.Error("cannot open the backend", "backend", cfg.Backend.Type, "err", err)
		return 1
	}
	defer func() {
		if err := be.Close(); err != nil {
			log.Error("closing the backend", "err", err)
		}
	}()
	fcfg := cfg.Server
	fcfg.Backend, fcfg.Logger = be, log
	if fcfg.Waits, err = lockWaits(cfg, be); err != nil {
		log.Error("cannot start the lock wait", "err", err)
		return 1
	}
	fcfg.Hot = locking.NewHotSessions(cfg.Locking)
	fcfg.RequestTiming = cfg.Admin.Listen != "" // request durations only feed the metrics
	var node *peering.Node
	if cfg.Peering.Enabled() {
		pc := cfg.Peering
		pc.Logger, pc.Waits = log, fcfg.Waits
		if node, err = peering.New(pc, be); err != nil {
			fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
			return 2
		}
		if err := node.Start(ctx); err != nil {
			log.Error("cannot start peering", "err", err)
			return 1
		}
		defer node.Close()
		fcfg.Router = node
	}
	srv, err := frontend.New(fcfg)
	if err != nil {
		fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.Listen, "err", err)
		return 1
	}
	var adm *admin.Server
	if cfg.Admin.Listen != "" {
		adm, err = admin.New(admin.Options{Config: cfg.Admin, Frontend: srv, Backend: be, BackendName: cfg.Backend.Type,
			Node: node, Sessions: sessionsOf(node, be), EffectiveConfig: effectiveConfig(k),
			Version: buildVersion(), Logger: log})
		var addr net.Addr
		if err == nil {
			addr, err = adm.Listen(cfg.Admin.Listen)
		}
		if err != nil {
			log.Error("cannot listen", "admin.listen", cfg.Admin.Listen, "err", err)
			ln.Close()
			return 1
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			adm.Shutdown(sctx)
		}()
		if env.adminReady != nil {
			env.adminReady(addr)
		}
	}
	log.Info("aspstated listening", "addr", ln.Addr().String(), "backend", cfg.Backend.Type,
		"aspnet_version", cfg.Server.Version, "build", buildVersion())
	warnListen(log, cfg.Listen, ln.Addr(), cfg.Server.AllowedNetworks)
	if env.ready != nil {
		env.ready(ln.Addr())
	}
	hup := env.hup
	if hup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		hup = ch
	}
	reloadDone := make(chan struct{})
	defer func() { <-reloadDone }()
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	drainOnStop := new(atomic.Bool) // peering.drain_on_stop, which SIGHUP may change
	drainOnStop.Store(cfg.Peering.DrainOnStop)
	go func() {
		defer close(reloadDone)
		watchReload(reloadCtx, hup, env, cfg, reloadTargets{level: level, srv: srv, adm: adm, drainOnStop: drainOnStop}, log)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		log.Error("listener failed", "err", err)
		shutdown(srv, cfg, log)
		return 1
	case <-ctx.Done():
	}
	if adm != nil {
		adm.SetNotReady("shutting down")
	}
	code := 0
	switch {
	case node != nil && node.Durable() && !drainOnStop.Load():
		// A durable store keeps its sessions across a restart: the others
		// hold requests for them until this gateway is back (peering.restart_grace),
		// and nothing moves. SIGTERM cannot tell `systemctl restart` from
		// `stop`; taking a gateway out of the farm is peering.drain_on_stop.
		node.AnnounceRestart(context.Background())
	case node != nil:
		// Hand every record to its new owner while still answering (by
		// forwarding) what web servers send meanwhile, then stop.
		if left, err := node.Leave(context.Background()); err != nil || left > 0 {
			code = 1
		}
	}
	log.Info("shutting down: no new connections, answering requests in flight")
	if !shutdown(srv, cfg, log) {
		code = 1
	}
	<-served
	log.Info("stopped")
	return code
}

// sessionsOf is what the operators' session API walks: with peering the
// whole farm, through the node, once it can (a node that is not a
// backends.Mover leaves the API answering 503 rather than showing this
// gateway's share as if it were the farm); without, the store.
func sessionsOf(node *peering.Node, be backends.Backend) backends.Mover {
	if node != nil {
		if m, ok := any(node).(backends.Mover); ok {
			return m
		}
		return nil
	}
	m, _ := be.(backends.Mover)
	return m
}

func shutdown(srv *frontend.Server, cfg *Config, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown timed out; connections closed", "timeout", cfg.ShutdownTimeout)
		return false
	}
	return true
}

// newLogger builds the logger, at the level held by level (which SIGHUP
// may change); cfg.Log has been validated.
func newLogger(cfg *Config, level *slog.LevelVar, w io.Writer) *slog.Logger {
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
