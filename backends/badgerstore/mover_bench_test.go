package badgerstore

import (
	"testing"

	"github.com/aspstate/aspstate/backends/backendtest"
)

// Installs with sync "always" share the group committer's transactions and
// syncs.
func BenchmarkMoverInstall(b *testing.B) { backendtest.BenchMoverInstall(b, benchStore(b, SyncAlways)) }

// Walk of 100,000 records, most of them beyond the record cache (32 MiB by
// default), so read from badger.
func BenchmarkMoverWalk(b *testing.B) { backendtest.BenchMoverWalk(b, benchStore(b, SyncNone), nil) }
