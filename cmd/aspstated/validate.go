package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
)

// Validate checks the configuration exactly as a start does, without opening
// or listening on anything: --print-config runs it too. Errors name the key.
func (c *Config) Validate() error {
	known := map[string]bool{}
	for _, f := range fields(c) {
		known[f.key] = true
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	// The gateway's floors; frontend.Config itself takes 0 as "the default".
	l := c.Server.Limits
	if l.MaxLineBytes < 256 {
		return fmt.Errorf("limits.max_line_bytes: %d is too small for a real request line (at least 256)", l.MaxLineBytes)
	}
	if l.MaxHeaderLines < 8 {
		return fmt.Errorf("limits.max_header_lines: %d is too small (at least 8)", l.MaxHeaderLines)
	}
	if l.MaxBodyBytes < 1024 {
		return fmt.Errorf("limits.max_body_bytes: %d is too small (at least 1024)", l.MaxBodyBytes)
	}
	if c.Server.IdleTimeout <= 0 {
		return errors.New("idle_timeout: must be positive")
	}
	if c.Server.WriteTimeout <= 0 {
		return errors.New("write_timeout: must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown_timeout: must be positive")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if err := keyed(c.Admin.Validate(), "admin.", known); err != nil {
		return err
	}
	if c.Debug.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Debug.Listen); err != nil {
			return fmt.Errorf("debug.listen: %q is not host:port", c.Debug.Listen)
		}
	}
	if err := keyed(c.Server.Validate(), "", known); err != nil {
		return err
	}
	if err := keyed(c.Locking.Validate(), "locking.", known); err != nil {
		return err
	}
	if err := c.Backend.validate(int(l.MaxBodyBytes), known); err != nil {
		return err
	}
	return c.validatePeering(known)
}

// validatePeering checks the peering section when peering is on: the keys,
// a backend that can hand records over, and readable certificate files.
func (c *Config) validatePeering(known map[string]bool) error {
	p := &c.Peering
	if !p.Enabled() {
		return nil
	}
	if err := keyed(p.Validate(), "", known); err != nil {
		return err
	}
	if c.Backend.Type == "redis" {
		return errors.New("peering.self: peering needs a local store (backend.type memory, bbolt or badger); gateways on one Redis already share every session")
	}
	for key, path := range map[string]string{"peering.tls.ca_file": p.TLS.CAFile,
		"peering.tls.cert_file": p.TLS.CertFile, "peering.tls.key_file": p.TLS.KeyFile} {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: %v", key, err)
		}
	}
	return nil
}
