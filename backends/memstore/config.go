package memstore

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures a Store. The zero value is valid: no caps, the real clock,
// no logging.
type Config struct {
	// MaxBytes caps the total of stored Data plus key bytes. 0 means no cap.
	// A Store that would exceed it fails with backends.ErrFull; nothing already
	// stored is evicted.
	MaxBytes int64
	// MaxValueSize is the largest Record.Data accepted, in bytes. 0 means no
	// limit. A larger Store fails with backends.ErrTooLarge.
	MaxValueSize int
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
		errs = append(errs, errors.New("memstore: MaxBytes must not be negative (0 means no cap)"))
	}
	if c.MaxValueSize < 0 {
		errs = append(errs, errors.New("memstore: MaxValueSize must not be negative (0 means no limit)"))
	}
	if c.MaxBytes > 0 && c.MaxValueSize > 0 && int64(c.MaxValueSize) > c.MaxBytes {
		errs = append(errs, errors.New("memstore: MaxValueSize is larger than MaxBytes, so such a value could never be stored"))
	}
	return errors.Join(errs...)
}
