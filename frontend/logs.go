package frontend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Session IDs are credentials: whoever has one is logged in. Lines at info
// level or above, and errors that reach a log, carry keyHash(key) instead;
// the key itself appears only at debug level.

// keyHash is a short, non-reversible name for a session key in logs: the
// first 8 hex digits of its SHA-256. Equal keys give equal hashes, so lines
// about one session can be matched up.
func keyHash(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// KeyHash is the name logs give the session key key (see keyHash), for other
// components' lines about a session, such as the operators' API's.
func KeyHash(key string) string { return keyHash([]byte(key)) }

// failureLogEvery is how often a repeated failure of one kind is logged.
const failureLogEvery = 10 * time.Second

// rateLog logs a repeated failure of one kind once with a count rather than
// once per request. The first failure is logged in full at once; those that
// follow within the interval are only counted, and the first failure after
// the interval is logged as a summary with the count and the last error,
// which starts a new interval. A count still pending when failures stop is
// logged by Flush (at shutdown).
type rateLog struct {
	log   *slog.Logger
	level slog.Level
	what  string // e.g. "backend failed", the start of the summary line
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex // guards the fields below
	until   time.Time  // end of the current interval; zero before the first failure
	since   time.Time  // start of the current interval
	count   int        // failures counted, not logged, in the current interval
	lastErr error      // the last of them
}

func newRateLog(log *slog.Logger, level slog.Level, what string) *rateLog {
	return &rateLog{log: log, level: level, what: what, every: failureLogEvery, now: time.Now}
}

// Log records one failure: msg and attrs are the full line, logged when this
// failure starts an interval; err is what a summary reports as the last error.
func (r *rateLog) Log(ctx context.Context, err error, msg string, attrs ...any) {
	now := r.now()
	r.mu.Lock()
	if !r.until.IsZero() && now.Before(r.until) {
		r.count++
		r.lastErr = err
		r.mu.Unlock()
		return
	}
	n, since := r.count, r.since
	r.count, r.lastErr = 0, nil
	r.since, r.until = now, now.Add(r.every)
	r.mu.Unlock()
	if n == 0 {
		r.log.Log(ctx, r.level, msg, attrs...)
		return
	}
	// This failure ends an interval in which others were only counted.
	r.summary(ctx, n+1, now.Sub(since), err)
}

// Flush logs the count of failures not yet reported, if any.
func (r *rateLog) Flush(ctx context.Context) {
	now := r.now()
	r.mu.Lock()
	n, since, err := r.count, r.since, r.lastErr
	r.count, r.lastErr = 0, nil
	r.mu.Unlock()
	if n > 0 {
		r.summary(ctx, n, now.Sub(since), err)
	}
}

func (r *rateLog) summary(ctx context.Context, n int, window time.Duration, err error) {
	window = window.Round(time.Second)
	r.log.Log(ctx, r.level, fmt.Sprintf("%s %d times in the last %v; last error: %v", r.what, n, window, err),
		"count", n, "window", window.String(), "err", err)
}
