package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspstate/aspstate/backends"
)

var (
	descSyncs = prometheus.NewDesc("aspstate_store_syncs_total",
		"Waits for the disk that writes depend on: bbolt log appends with their fdatasync (backend.sync always), badger's periodic sync rounds (interval).", nil, nil)
	descSyncSeconds = prometheus.NewDesc("aspstate_store_sync_seconds_total",
		"Time spent in those waits.", nil, nil)
	descLogBytes = prometheus.NewDesc("aspstate_store_log_bytes",
		"On-disk size of the store's log: bbolt's write-ahead segments, badger's value log.", nil, nil)

	descPipelines = prometheus.NewDesc("aspstate_redis_pipelines_total",
		"Pipelines sent to Redis; with aspstate_redis_pipelined_operations_total it gives the mean pipeline size.", nil, nil)
	descPipelinedOps = prometheus.NewDesc("aspstate_redis_pipelined_operations_total",
		"Operations sent to Redis in pipelines.", nil, nil)
	descRedisRetries = prometheus.NewDesc("aspstate_redis_retries_total",
		"Operations run again: conflict (another gateway wrote the key between read and write), noscript (Redis had forgotten the script).", []string{"reason"}, nil)
)

// durabilityCollector reports a durable store's syncs and log size.
type durabilityCollector struct{ r backends.DurabilityReporter }

func (c durabilityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSyncs
	ch <- descSyncSeconds
	ch <- descLogBytes
}

func (c durabilityCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.DurabilityStats()
	ch <- prometheus.MustNewConstMetric(descSyncs, prometheus.CounterValue, float64(st.Syncs))
	ch <- prometheus.MustNewConstMetric(descSyncSeconds, prometheus.CounterValue, st.SyncTime.Seconds())
	ch <- prometheus.MustNewConstMetric(descLogBytes, prometheus.GaugeValue, float64(st.LogBytes))
}

// pipelineCollector reports the Redis store's pipelines and retries.
type pipelineCollector struct{ r backends.PipelineReporter }

func (c pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPipelines
	ch <- descPipelinedOps
	ch <- descRedisRetries
}

func (c pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.PipelineStats()
	ch <- prometheus.MustNewConstMetric(descPipelines, prometheus.CounterValue, float64(st.Pipelines))
	ch <- prometheus.MustNewConstMetric(descPipelinedOps, prometheus.CounterValue, float64(st.PipelinedOps))
	ch <- prometheus.MustNewConstMetric(descRedisRetries, prometheus.CounterValue, float64(st.ConflictRetries), "conflict")
	ch <- prometheus.MustNewConstMetric(descRedisRetries, prometheus.CounterValue, float64(st.ScriptResends), "noscript")
}

// backendCollectors returns the collectors for what be reports beyond the
// common gauges.
func backendCollectors(be backends.Backend) []prometheus.Collector {
	var cs []prometheus.Collector
	if r, ok := be.(backends.DurabilityReporter); ok {
		cs = append(cs, durabilityCollector{r})
	}
	if r, ok := be.(backends.PipelineReporter); ok {
		cs = append(cs, pipelineCollector{r})
	}
	return cs
}
