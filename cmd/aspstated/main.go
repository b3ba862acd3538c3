package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aspstate/aspstate/frontend"
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
	os.Exit(run(ctx, runEnv{args: os.Args[1:], environ: os.Environ(), stdout: os.Stdout, stderr: os.Stderr}))
}

// runEnv is everything run takes from the process, so tests can run the real
// server in-process.
type runEnv struct {
	args    []string
	environ []string
	stdout  io.Writer
	stderr  io.Writer
	// ready, if set, is called with the listening address once serving.
	ready func(net.Addr)
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
	log := newLogger(cfg, logOut)
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
	log.Info("aspstated listening", "addr", ln.Addr().String(), "backend", cfg.Backend.Type, "version", cfg.Server.Version)
	warnListen(log, cfg.Listen, ln.Addr(), cfg.Server.AllowedNetworks)
	if env.ready != nil {
		env.ready(ln.Addr())
	}
	if cfg.Debug.Listen != "" {
		stopDebug, err := serveDebug(ctx, cfg.Debug.Listen, srv, node, log)
		if err != nil {
			log.Error("cannot listen", "debug.listen", cfg.Debug.Listen, "err", err)
			srv.Shutdown(context.Background())
			return 1
		}
		defer stopDebug()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		log.Error("listener failed", "err", err)
		shutdown(srv, cfg, log)
		return 1
	case <-ctx.Done():
	}
	code := 0
	if node != nil {
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

func shutdown(srv *frontend.Server, cfg *Config, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown timed out; connections closed", "timeout", cfg.ShutdownTimeout)
		return false
	}
	return true
}

// newLogger builds the logger; cfg.Log has been validated.
func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
