//go:build !aspstate_boltbatch

package boltstore

import "time"

// dbBatchBuild: see Config.dbBatch. This build writes through the log.
const dbBatchBuild = false

// dbBatchDelay is bbolt's DB.MaxBatchDelay when Config.dbBatch is set
// (tests): 1 ms, about one bbolt commit with its fsyncs on a fast disk.
var dbBatchDelay = time.Millisecond
