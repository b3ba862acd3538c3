//go:build aspstate_boltbatch

package boltstore

import (
	"os"
	"time"
)

// dbBatchBuild: see Config.dbBatch. A binary built with
// -tags aspstate_boltbatch commits writes with DB.Batch instead of the log;
// only scripts/altbench.sh builds one, to measure the two against each other.
const dbBatchBuild = true

// dbBatchDelay is bbolt's DB.MaxBatchDelay: 1 ms unless
// ASPSTATE_BOLT_BATCH_DELAY (a Go duration) says otherwise; read only in
// this measurement build.
var dbBatchDelay = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ASPSTATE_BOLT_BATCH_DELAY")); err == nil && d > 0 {
		return d
	}
	return time.Millisecond
}()
