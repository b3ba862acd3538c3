package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// An export or import through the API lasts as long as the store is large,
// so it has no overall timeout; instead it fails when no byte moves for
// --idle-timeout: a stalled gateway (or network) cannot hang the tool
// forever. For an export a byte moves when one arrives; for an import when
// the request body is read to be sent (the gateway consumes the stream) or
// when the answer arrives.

// defaultIdleTimeout is --idle-timeout's default.
const defaultIdleTimeout = 60 * time.Second

// idleWatch cancels its context when kick has not been called for timeout.
type idleWatch struct {
	timeout time.Duration
	t       *time.Timer
	fired   atomic.Bool
}

// watchIdle returns ctx, cancelled after timeout without a kick, and the
// watch (timeout <= 0: never). Call stop when done.
func watchIdle(ctx context.Context, timeout time.Duration) (context.Context, *idleWatch, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	w := &idleWatch{timeout: timeout}
	if timeout > 0 {
		w.t = time.AfterFunc(timeout, func() {
			w.fired.Store(true)
			cancel()
		})
	}
	return ctx, w, func() {
		if w.t != nil {
			w.t.Stop()
		}
		cancel()
	}
}

// kick notes that a byte moved.
func (w *idleWatch) kick() {
	if w.t != nil && !w.fired.Load() {
		w.t.Reset(w.timeout)
	}
}

// explain replaces err with the idle timeout's when the watch fired.
func (w *idleWatch) explain(err error) error {
	if err == nil || !w.fired.Load() {
		return err
	}
	return &unreachableError{fmt.Errorf("no data from the gateway for %v (--idle-timeout): it or the network stalled", w.timeout)}
}

// idleReader kicks the watch whenever bytes go through it.
type idleReader struct {
	r io.Reader
	w *idleWatch
}

func (r idleReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.w.kick()
	}
	return n, err
}
