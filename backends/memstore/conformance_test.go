package memstore_test

import (
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/memstore"
)

const testMaxValue = 1 << 20

func harness() backendtest.Harness {
	return backendtest.Harness{
		Open: func(t *testing.T, _ string, now func() time.Time) backends.Backend {
			s, err := memstore.New(memstore.Config{MaxValueSize: testMaxValue, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		MaxValueSize: testMaxValue,
	}
}

func TestConformance(t *testing.T) { backendtest.Run(t, harness()) }

// TestDifferential runs the differential test with a memstore as the store
// under test: it checks the harness itself and memstore's determinism.
func TestDifferential(t *testing.T) { backendtest.RunDifferential(t, harness()) }
