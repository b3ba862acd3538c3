package redisstore

import (
	"sync/atomic"

	"github.com/aspstate/aspstate/backends"
)

// pipelineCounts back PipelineStats; batchers and Apply add to them.
type pipelineCounts struct {
	pipelines, ops, conflicts, resends atomic.Uint64
}

var _ backends.PipelineReporter = (*Store)(nil)

// PipelineStats returns the store's pipeline and retry counters.
func (s *Store) PipelineStats() backends.PipelineStats {
	return backends.PipelineStats{
		Pipelines:       s.counts.pipelines.Load(),
		PipelinedOps:    s.counts.ops.Load(),
		ConflictRetries: s.counts.conflicts.Load(),
		ScriptResends:   s.counts.resends.Load(),
	}
}
