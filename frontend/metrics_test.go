package frontend

import (
	"testing"

	"github.com/aspstate/aspstate/locking"
)

func TestOpLabelsFollowTheOps(t *testing.T) {
	for op := locking.OpGet; op <= locking.OpResetTimeout; op++ {
		want := map[locking.Op]string{locking.OpGet: "get", locking.OpGetExclusive: "get_exclusive", locking.OpRelease: "release",
			locking.OpSet: "set", locking.OpRemove: "remove", locking.OpResetTimeout: "reset_timeout"}[op]
		if got := OpLabel(int(op)); got != want {
			t.Errorf("OpLabel(%v) = %q, want %q", op, got, want)
		}
	}
}

func TestDurationBuckets(t *testing.T) {
	var rc reqCounts
	rc.record(locking.OpGet, 200, 10e3, true) // 10 µs: first bucket
	rc.record(locking.OpGet, 200, 30e3, true) // 30 µs: second
	rc.record(locking.OpGet, 200, 20e9, true) // 20 s: past the last bound
	rc.record(locking.OpSet, 400, 0, false)   // not timed
	rc.record(locking.Op(99), 400, 0, false)  // no operation: slot 0
	var rs RequestCounts
	rc.addTo(&rs)
	g := int(locking.OpGet)
	if rs.Buckets[g][0] != 1 || rs.Buckets[g][1] != 1 || rs.Buckets[g][len(DurationBounds)] != 1 {
		t.Errorf("buckets %v", rs.Buckets[g])
	}
	if rs.Count[g][0] != 3 || rs.Count[int(locking.OpSet)][1] != 1 || rs.Count[0][1] != 1 {
		t.Error("counts")
	}
	if rs.SumNanos[g] != 10e3+30e3+20e9 {
		t.Errorf("sum %d", rs.SumNanos[g])
	}
	var total RequestStats
	rc.moveTo(&total)
	var again RequestCounts
	total.addTo(&again)
	if again != rs {
		t.Error("moveTo lost counts")
	}
}
