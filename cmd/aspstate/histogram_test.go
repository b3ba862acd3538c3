package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<20; v++ {
		i := histIndex(v)
		if i != prev && i != prev+1 {
			t.Fatalf("value %d: bucket %d after %d", v, i, prev)
		}
		if histUpper(i) < v || (i > 0 && histUpper(i-1) >= v) {
			t.Fatalf("value %d in bucket %d with bounds (%d, %d]", v, i, histUpper(i-1), histUpper(i))
		}
		prev = i
	}
	if i := histIndex(1 << 62); i != histBuckets-1 {
		t.Errorf("huge value: bucket %d", i)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	var a, b histogram
	// 1..10000 µs, shuffled, split over two histograms and merged.
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(10000) {
		d := time.Duration(i+1) * time.Microsecond
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a.n != 10000 || a.min != int64(time.Microsecond) || a.max != int64(10*time.Millisecond) {
		t.Fatalf("n=%d min=%d max=%d", a.n, a.min, a.max)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5 * time.Millisecond}, {99, 9900 * time.Microsecond}, {100, 10 * time.Millisecond}, {0.01, time.Microsecond}} {
		got := a.percentile(c.p)
		if got < c.want || float64(got) > float64(c.want)*1.016 {
			t.Errorf("p%v = %v, want %v (+1.6%%)", c.p, got, c.want)
		}
	}
	if m := a.mean(); m < 5000*time.Microsecond || m > 5001*time.Microsecond {
		t.Errorf("mean %v", m)
	}
	var empty histogram
	if empty.percentile(50) != 0 {
		t.Error("empty histogram: nonzero percentile")
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h histogram
	if n := testing.AllocsPerRun(1000, func() { h.record(1234 * time.Microsecond) }); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
}
