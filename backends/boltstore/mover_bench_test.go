package boltstore

import (
	"testing"

	"github.com/aspstate/aspstate/backends/backendtest"
)

// Installs with sync "always" share the log's appends and fdatasyncs.
func BenchmarkMoverInstall(b *testing.B) { backendtest.BenchMoverInstall(b, openBench(b, SyncAlways)) }

// Walk of records checkpointed into bbolt (the common case: nothing pending
// in memory).
func BenchmarkMoverWalk(b *testing.B) {
	s := openBench(b, SyncNone)
	backendtest.BenchMoverWalk(b, s, s.checkpointNow)
}

// Walk while installs with sync "always" keep the writer and the
// checkpointer busy (a listing or a drain on a gateway serving traffic).
func BenchmarkMoverWalkBesideWrites(b *testing.B) {
	backendtest.BenchMoverWalkBesideWrites(b, openBench(b, SyncAlways))
}
