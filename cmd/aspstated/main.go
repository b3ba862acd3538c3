package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/frontend/wire"
)

func main() {
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
// bad configuration.
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
	if opt.printConfig {
		if err := printConfig(k, env.stdout); err != nil {
			fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
			return 1
		}
		return 0
	}
	log, err := newLogger(cfg, env.stderr)
	if err != nil {
		fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
		return 2
	}
	fcfg, err := frontendConfig(cfg, log)
	if err != nil {
		fmt.Fprintf(env.stderr, "aspstated: %v\n", err)
		return 2
	}
	if cfg.Backend.Type == "redis" {
		routeRedisLogs(log)
	}
	be, err := openBackend(&cfg.Backend, int(cfg.Limits.MaxBodyBytes), log)
	if err != nil {
		log.Error("cannot open the backend", "backend", cfg.Backend.Type, "err", err)
		return 1
	}
	defer func() {
		if err := be.Close(); err != nil {
			log.Error("closing the backend", "err", err)
		}
	}()
	fcfg.Backend = be
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
	log.Info("aspstated listening", "addr", ln.Addr().String(), "backend", cfg.Backend.Type, "version", cfg.Version)
	if env.ready != nil {
		env.ready(ln.Addr())
	}
	if cfg.Debug.Listen != "" {
		stopDebug, err := serveDebug(ctx, cfg.Debug.Listen, srv, log)
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
	log.Info("shutting down: no new connections, answering requests in flight")
	code := 0
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

func frontendConfig(cfg *Config, log *slog.Logger) (frontend.Config, error) {
	fc := frontend.Config{
		Version:        cfg.Version,
		Limits:         wire.Limits{MaxLineBytes: cfg.Limits.MaxLineBytes, MaxHeaderLines: cfg.Limits.MaxHeaderLines, MaxBodyBytes: cfg.Limits.MaxBodyBytes},
		IdleTimeout:    cfg.IdleTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		MaxConnections: cfg.MaxConnections,
		Logger:         log,
	}
	for _, s := range cfg.AllowedNetworks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fc, fmt.Errorf("allowed_networks: %q is not a CIDR prefix such as 10.0.0.0/8", s)
		}
		fc.AllowedNetworks = append(fc.AllowedNetworks, p.Masked())
	}
	if cfg.Limits.MaxLineBytes < 256 {
		return fc, fmt.Errorf("limits.max_line_bytes: %d is too small for a real request line (at least 256)", cfg.Limits.MaxLineBytes)
	}
	if cfg.Limits.MaxHeaderLines < 8 {
		return fc, fmt.Errorf("limits.max_header_lines: %d is too small (at least 8)", cfg.Limits.MaxHeaderLines)
	}
	if cfg.Limits.MaxBodyBytes < 1024 {
		return fc, fmt.Errorf("limits.max_body_bytes: %d is too small (at least 1024)", cfg.Limits.MaxBodyBytes)
	}
	if cfg.IdleTimeout <= 0 {
		return fc, errors.New("idle_timeout: must be positive")
	}
	if cfg.WriteTimeout <= 0 {
		return fc, errors.New("write_timeout: must be positive")
	}
	if cfg.ShutdownTimeout <= 0 {
		return fc, errors.New("shutdown_timeout: must be positive")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return fc, fmt.Errorf("listen: %q is not host:port", cfg.Listen)
	}
	return fc, fc.Validate()
}

func newLogger(cfg *Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", cfg.Log.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.Log.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format: %q is not text or json", cfg.Log.Format)
}
