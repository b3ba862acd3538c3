package admin

import (
	"io"
	"log/slog"
	"sync"
)

func slog0() *slog.Logger { return slog.New(slog.DiscardHandler) }

type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
