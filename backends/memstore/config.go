package memstore

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures a Store. The zero value is valid: no caps, the real clock,
// no logging. The koanf and help tags define the gateway's configuration keys
// (backend.memory.*, cmd/aspstated).
type Config struct {
	// MaxBytes caps the total of stored Data plus key bytes. 0 means no cap.
	// A Store that would exceed it fails with backends.ErrFull; nothing already
	// stored is evicted.
	MaxBytes int64 `koanf:"max_bytes" help:"cap on stored bytes; a PUT past it gets 400 (0: no cap)"`
	// MaxValueSize is the largest Record.Data accepted, in bytes. 0 means no
	// limit. A larger Store fails with backends.ErrTooLarge.
	MaxValueSize int `koanf:"-"` // the gateway passes its limits.max_body_bytes
	// Now is the clock used for expiry, nil for time.Now. The sweeper reads it
	// on every tick, so a test clock drives sweeping too.
	Now func() time.Time
	// Logger receives capacity warnings and sweep statistics (debug). Nil
	// discards them.
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 {
		errs = append(errs, errors.New("memstore: max_bytes: must not be negative (0 means no cap)"))
	}
	if c.MaxValueSize < 0 {
		errs = append(errs, errors.New("memstore: max_value_size: must not be negative (0 means no limit)"))
	}
	if c.MaxBytes > 0 && c.MaxValueSize > 0 && int64(c.MaxValueSize) > c.MaxBytes {
		errs = append(errs, errors.New("memstore: max_bytes: smaller than max_value_size (the largest value accepted; the gateway's limits.max_body_bytes), so such a value could never be stored"))
	}
	return errors.Join(errs...)
}
