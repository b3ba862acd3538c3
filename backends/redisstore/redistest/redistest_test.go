package redistest

import (
	"context"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	s := Start(t)
	port := s.Port()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	c := s.Client()
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Pause()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("a paused server answered PING")
	}
	s.Resume()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}

	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("a stopped server answered PING")
	}
	s.Stop() // idempotent
	s.Restart()
	if s.Port() != port {
		t.Fatalf("Restart moved the server from port %d to %d", port, s.Port())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after Restart EXISTS k = %d, %v; want an empty server (persistence off)", n, err)
	}
	// Stopping while paused must not hang.
	s.Pause()
}
