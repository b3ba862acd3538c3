package frontend

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// Defaults for Config fields left zero (the version: wire.DefaultVersion; the
// limits: wire.DefaultLimits).
const (
	DefaultIdleTimeout  = 60 * time.Second
	DefaultWriteTimeout = 10 * time.Second // the client's own stateNetworkTimeout
	// shutdownGrace is how long a connection caught with half a request may
	// keep reading after Shutdown began, so that request can still be answered.
	shutdownGrace = 2 * time.Second

	// DefaultMaxInflightBytes is limits.max_inflight_bytes: 256 MiB, room for
	// 12 bodies of the largest size (20 MiB) at once. With the garbage of
	// the doubling buffers, 250 connections sending 20 MiB bodies peaked at
	// under 0.7 GiB RSS (BENCHMARKS.md), leaving a 24 GiB machine to the
	// sessions themselves.
	DefaultMaxInflightBytes = 256 << 20
	// DefaultHeaderTimeout is limits.header_timeout: a real client sends its
	// head (about 200 bytes) in one segment.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultMinBodyRate is limits.min_body_rate, 256 KiB/s: a 20 MiB body
	// may take 80 s (plus header_timeout), eight times the client's own
	// timeout, so only a deliberately slow sender is cut off.
	DefaultMinBodyRate = 256 << 10
)

// Config configures a Server. Zero values take the defaults above. The koanf,
// default and help tags define the gateway's configuration keys (cmd/aspstated).
type Config struct {
	// Backend stores the sessions. Required. The server does not close it.
	Backend backends.Backend
	// Router, when set, runs each operation instead of Backend.Apply: with
	// peering, keys owned by other gateways run there. Backend stays the
	// local store.
	Router Router
	// Version is sent as X-AspNet-Version; the client needs major >= 2.
	Version string `koanf:"aspnet_version" help:"the X-AspNet-Version header value sent on every response (major version must be >= 2)"`
	// Limits bound request size; see wire.Limits.
	Limits wire.Limits `koanf:"limits"`
	// IdleTimeout closes a connection that sends nothing for this long.
	IdleTimeout time.Duration `koanf:"idle_timeout" help:"close a client connection after this long without a request"`
	// WriteTimeout bounds writing one batch of responses to a client.
	WriteTimeout time.Duration `koanf:"write_timeout" help:"give up writing a response to a client after this long"`
	// AllowedNetworks, when not empty, lists the client networks accepted;
	// connections from elsewhere are closed at once.
	AllowedNetworks []netip.Prefix `koanf:"allowed_networks" help:"client networks (CIDR) allowed to connect; empty allows any that can reach the listener"`
	// MaxConnections caps concurrent client connections (0: no cap). Extra
	// connections are closed at once and logged.
	MaxConnections int `koanf:"max_connections" help:"maximum concurrent client connections (0: no limit)"`
	// Waits, when enabled, holds a Get or GetExclusive that finds the
	// session locked until the release (locking.Waiters, the locking.*
	// keys). nil: an immediate 423. Share it with a peering Router.
	Waits *locking.Waiters `koanf:"-"`
	// Hot, when set, delays the 423s of a session answering far more of
	// them than web servers poll for (locking.HotSessions, the
	// locking.hot_* keys). nil: every 423 is answered at once.
	Hot *locking.HotSessions `koanf:"-"`
	// RequestTiming measures each request's duration for
	// Stats.Requests.Buckets (two clock readings per request).
	RequestTiming bool `koanf:"-"`
	// Now is the clock (nil: time.Now). LockDate is sent in Location.
	Now      func() time.Time
	Location *time.Location // nil: time.Local, as the reference server does
	Logger   *slog.Logger   // nil: slog.Default()

	// realClock is set when Now is time.Now by default: a request's start
	// time for RequestTiming is then the Now already read for it.
	realClock bool
}

// Validate reports the first invalid field. It does not require Backend, so a
// configuration can be checked before the store is opened; New does.
func (c *Config) Validate() error {
	if c.Version != "" && !versionOK(c.Version) {
		return fmt.Errorf("frontend: aspnet_version: %q must start with a major version >= 2 (the client checks it)", c.Version)
	}
	if c.Limits.MaxLineBytes < 0 || c.Limits.MaxHeaderLines < 0 || c.Limits.MaxBodyBytes < 0 {
		return errors.New("frontend: limits: must not be negative")
	}
	if c.Limits.MaxInflightBytes < 0 || c.Limits.HeaderTimeout < 0 || c.Limits.MinBodyRate < 0 {
		return errors.New("frontend: limits: must not be negative")
	}
	if d := c.withDefaults(); d.Limits.MaxInflightBytes < d.Limits.MaxBodyBytes+int64(d.Limits.MaxLineBytes) {
		return fmt.Errorf("frontend: limits.max_inflight_bytes (%d) must exceed limits.max_body_bytes (%d) by at least a line (%d bytes)",
			d.Limits.MaxInflightBytes, d.Limits.MaxBodyBytes, d.Limits.MaxLineBytes)
	}
	if c.IdleTimeout < 0 || c.WriteTimeout < 0 {
		return errors.New("frontend: timeouts: must not be negative")
	}
	if c.MaxConnections < 0 {
		return errors.New("frontend: max_connections: must not be negative")
	}
	return nil
}

// versionOK mirrors the client's check: the text before the first '.' is an
// integer >= 2.
func versionOK(v string) bool {
	major := 0
	for i := 0; i < len(v) && v[i] != '.'; i++ {
		if v[i] < '0' || v[i] > '9' || major > 1<<20 {
			return false
		}
		major = major*10 + int(v[i]-'0')
	}
	return major >= 2
}

// SetDefaults gives every zero field its default, as New does.
func (c *Config) SetDefaults() { *c = c.withDefaults() }

func (c *Config) withDefaults() Config {
	d := *c
	if d.Version == "" {
		d.Version = wire.DefaultVersion
	}
	def := wire.DefaultLimits()
	if d.Limits.MaxLineBytes == 0 {
		d.Limits.MaxLineBytes = def.MaxLineBytes
	}
	if d.Limits.MaxHeaderLines == 0 {
		d.Limits.MaxHeaderLines = def.MaxHeaderLines
	}
	if d.Limits.MaxBodyBytes == 0 {
		d.Limits.MaxBodyBytes = def.MaxBodyBytes
	}
	if d.Limits.MaxInflightBytes == 0 {
		d.Limits.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if d.Limits.HeaderTimeout == 0 {
		d.Limits.HeaderTimeout = DefaultHeaderTimeout
	}
	if d.Limits.MinBodyRate == 0 {
		d.Limits.MinBodyRate = DefaultMinBodyRate
	}
	if d.IdleTimeout == 0 {
		d.IdleTimeout = DefaultIdleTimeout
	}
	if d.WriteTimeout == 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.Now == nil {
		d.Now, d.realClock = time.Now, true
	}
	if d.Location == nil {
		d.Location = time.Local
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}
