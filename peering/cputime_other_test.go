//go:build !unix

package peering_test

import "time"

// cpuTime is not measured here: the benchmarks report 0 CPU per record.
func cpuTime() time.Duration { return 0 }
