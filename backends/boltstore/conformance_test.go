package boltstore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
)

const testMaxValue = 1 << 20

func harness(sync string) backendtest.Harness { return harnessWith(sync, false) }

// harnessWith is harness on either write path: dbBatch commits writes with
// DB.Batch instead of the log (see Config.dbBatch).
func harnessWith(sync string, dbBatch bool) backendtest.Harness {
	return backendtest.Harness{
		Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend {
			s, err := Open(Config{
				Path:          filepath.Join(dir, "sessions.db"),
				Sync:          sync,
				FlushInterval: 20 * time.Millisecond,
				SweepInterval: 10 * time.Millisecond,
				MaxValueSize:  testMaxValue,
				Now:           now,
				Logger:        testLogger(t),
				dbBatch:       dbBatch,
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Durable:      true,
		MaxValueSize: testMaxValue,
	}
}

func TestConformance(t *testing.T) {
	t.Run("SyncAlways", func(t *testing.T) { backendtest.Run(t, harness(SyncAlways)) })
	t.Run("SyncNone", func(t *testing.T) { backendtest.Run(t, harness(SyncNone)) })
	t.Run("DBBatch", func(t *testing.T) { backendtest.Run(t, harnessWith(SyncAlways, true)) })
}

// TestDifferential runs random protocol operations against this store and
// memstore on one clock; the seed is logged for replay.
func TestDifferential(t *testing.T) {
	t.Run("SyncAlways", func(t *testing.T) { backendtest.RunDifferential(t, harness(SyncAlways)) })
	t.Run("SyncNone", func(t *testing.T) { backendtest.RunDifferential(t, harness(SyncNone)) })
	t.Run("DBBatch", func(t *testing.T) { backendtest.RunDifferential(t, harnessWith(SyncAlways, true)) })
}
