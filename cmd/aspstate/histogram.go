package main

import (
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets (HDR style): values below
// histSub nanoseconds have one bucket each, and every power of two above that
// is split into histSub/2 buckets, so a recorded value is reported with a
// relative error below 2/histSub (1.6%). Recording never allocates. The zero
// value is ready to use; a histogram is not safe for concurrent use (each bench
// connection owns its own and they are merged at the end).
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // nanoseconds
	min    int64
	max    int64
}

const (
	histSubBits  = 7
	histSub      = 1 << histSubBits
	histMaxShift = 36 // values up to 2^(36+7) ns (about 2.4 hours) are bucketed exactly
	histBuckets  = (histMaxShift + 2) * histSub / 2
)

func histIndex(v int64) int {
	if v < histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits
	if shift > histMaxShift {
		return histBuckets - 1
	}
	return shift*(histSub/2) + int(v>>uint(shift))
}

// histUpper is the highest value that lands in bucket i.
func histUpper(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	shift := i/(histSub/2) - 1
	m := int64(i - shift*(histSub/2))
	return (m+1)<<uint(shift) - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += uint64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// percentile returns the smallest bucket bound below which at least p percent
// of the recorded values lie, clamped to the exact min and max.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	target := uint64(p / 100 * float64(h.n))
	if float64(target) < p/100*float64(h.n) {
		target++
	}
	if target < 1 {
		target = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= target {
			v := histUpper(i)
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
