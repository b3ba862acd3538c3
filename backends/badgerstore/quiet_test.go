package badgerstore

import (
	"github.com/aspstate/aspstate/internal/testlog"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// lockedBuffer is a log destination the code under test writes from its own goroutines.
type lockedBuffer = testlog.Buffer

// The periodic sync of the "interval" policy logs nothing while it works. On
// Windows it used to log "periodic sync failed ... Access denied" every
// SyncInterval: it synced the directory, which Windows refuses (see package
// durable); it now runs under Wine in CI (make test-windows).
func TestPeriodicSyncLogsNoError(t *testing.T) {
	var logs lockedBuffer
	cfg := testConfig(t.TempDir(), nil)
	cfg.Sync = SyncInterval
	cfg.SyncInterval = 20 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := openTest(t, cfg)
	for i := range 10 {
		if err := backends.Put(ctx, s, "k"+strings.Repeat("x", i), backends.Record{Data: []byte("v"), Timeout: 20}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cfg.SyncInterval)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if out := logs.String(); out != "" {
		t.Fatalf("warnings or errors logged:\n%s", out)
	}
}
