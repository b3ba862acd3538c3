package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// open opens a Store on srv with a prefix unique to the test, closed at
// cleanup. mod may adjust the configuration.
func open(t testing.TB, srv *redistest.Server, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{
		Addrs:     []string{srv.Addr()},
		KeyPrefix: "test:" + t.Name() + ":",
		Logger:    slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get is backends.Get that fails the test on an error other than ErrNotFound.
func get(t testing.TB, s *Store, key string) (backends.Record, bool) {
	t.Helper()
	rec, err := backends.Get(bg(t), s, key)
	if err == backends.ErrNotFound {
		return rec, false
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return rec, true
}

func put(t testing.TB, s *Store, key string, rec backends.Record) {
	t.Helper()
	if err := backends.Put(bg(t), s, key, rec); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// logBuffer collects a Store's log output for assertions.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// eventually polls cond every 10 ms until it holds or limit passes, and
// returns how long it took.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func newLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
