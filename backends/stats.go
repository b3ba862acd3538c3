package backends

import "time"

// DurabilityStats are a durable store's counters for operators (the
// gateway's /metrics): how often and how long it waits for the disk, and how
// much log it keeps.
type DurabilityStats struct {
	// Syncs counts the waits for the disk that writes depend on: bbolt's log
	// appends with their fdatasync (backend.sync "always"), badger's
	// periodic sync rounds ("interval").
	Syncs uint64
	// SyncTime is the time spent in them.
	SyncTime time.Duration
	// LogBytes is the on-disk size of the store's log now: bbolt's write-ahead
	// segments, badger's value log.
	LogBytes int64
}

// DurabilityReporter is implemented by the durable stores (bbolt, badger).
type DurabilityReporter interface {
	DurabilityStats() DurabilityStats
}

// PipelineStats are the Redis store's counters for operators.
type PipelineStats struct {
	// Pipelines counts the batches its own pipelined connections sent;
	// PipelinedOps the operations in them (their ratio is the mean
	// pipeline size). Both stay zero on the go-redis path (Cluster, or
	// go-redis only).
	Pipelines, PipelinedOps uint64
	// ConflictRetries counts Applies run again after another gateway wrote
	// the key between this one's read and its write.
	ConflictRetries uint64
	// ScriptResends counts operations sent again with the script's source
	// because Redis had forgotten the script (a restart or failover).
	ScriptResends uint64
}

// PipelineReporter is implemented by the Redis store.
type PipelineReporter interface {
	PipelineStats() PipelineStats
}
