package memstore_test

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/memstore"
)

// sessionKey returns a realistic key of about 100 bytes: what ASP.NET sends
// is the application id followed by the 24-character session id.
func sessionKey(i int) string {
	return fmt.Sprintf("/LM/W3SVC/1/ROOT/ContosoShopFront.Web(3f2a9c1b7d4e)-1-133512345678901234/%024d", i)
}

func loadStore(b *testing.B, s *memstore.Store, keys []string, size int, timeout int32) {
	b.Helper()
	data := make([]byte, size)
	for i, k := range keys {
		data[i%size] = byte(i)
		if err := put(b, s, k, data, timeout); err != nil {
			b.Fatal(err)
		}
	}
}

func keyList(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = prefix + sessionKey(i)
	}
	return keys
}

// getFn is a read-only transition, as a non-exclusive GET runs it.
func getFn(sink *int) backends.Transition {
	return func(cur *backends.Record) backends.Change {
		if cur != nil {
			*sink += len(cur.Data)
		}
		return backends.Change{Action: backends.Keep}
	}
}

func BenchmarkApplyGet(b *testing.B) {
	s := newStore(b, memstore.Config{})
	keys := keyList("", 10_000)
	loadStore(b, s, keys, 1024, 20)
	ctx := context.Background()
	var sink int
	fn := getFn(&sink)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Apply(ctx, keys[i%len(keys)], fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyGetParallel(b *testing.B) {
	s := newStore(b, memstore.Config{})
	keys := keyList("", 10_000)
	loadStore(b, s, keys, 1024, 20)
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var sink int
		fn := getFn(&sink)
		i := int(next.Add(7919))
		for pb.Next() {
			i++
			if err := s.Apply(ctx, keys[i%len(keys)], fn); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkApplyStore replaces 1 KiB records: one allocation, the copy.
func BenchmarkApplyStore(b *testing.B) {
	s := newStore(b, memstore.Config{})
	keys := keyList("", 10_000)
	loadStore(b, s, keys, 1024, 20)
	ctx := context.Background()
	data := make([]byte, 1024)
	fn := func(*backends.Record) backends.Change {
		return backends.Change{Action: backends.Store, Record: backends.Record{Data: data, Timeout: 20, LockCookie: 1}}
	}
	b.ReportAllocs()
	b.SetBytes(1024)
	for i := 0; b.Loop(); i++ {
		if err := s.Apply(ctx, keys[i%len(keys)], fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyLockCycle stores the record it read with the lock flipped,
// as GetExclusive and ReleaseExclusive do: the data is not copied.
func BenchmarkApplyLockCycle(b *testing.B) {
	s := newStore(b, memstore.Config{})
	keys := keyList("", 10_000)
	loadStore(b, s, keys, 1024, 20)
	ctx := context.Background()
	fn := func(cur *backends.Record) backends.Change {
		r := *cur
		r.Locked = !r.Locked
		r.LockCookie++
		return backends.Change{Action: backends.Store, Record: r}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Apply(ctx, keys[i%len(keys)], fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpiryStorm loads 100,000 sessions that share one deadline plus
// 10,000 long-lived ones, runs a read load on the long-lived ones, and moves
// the clock so that the 100,000 expire together. It reports the latency of
// the load while the sweeper removes them (from the first removal to the
// last), and before, for comparison. Measured, never asserted.
func BenchmarkExpiryStorm(b *testing.B) {
	const storm, hot = 100_000, 10_000
	stormKeys := keyList("storm", storm)
	hotKeys := keyList("hot", hot)
	var base, during latHist
	var stormTime time.Duration
	for range b.N {
		clk := backendtest.NewClock(time.Now())
		s := newStore(b, memstore.Config{Now: clk.Now})
		loadStore(b, s, hotKeys, 1024, 525600)
		loadStore(b, s, stormKeys, 1024, 20)
		runtime.GC()

		var stop atomic.Bool
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		bases := make([]latHist, workers)
		durings := make([]latHist, workers)
		for w := range workers {
			wg.Go(func() {
				ctx := context.Background()
				var sink int
				fn := getFn(&sink)
				for i := w * 7919; !stop.Load(); i++ {
					before := s.Len()
					t0 := time.Now()
					if err := s.Apply(ctx, hotKeys[i%hot], fn); err != nil {
						b.Error(err)
						return
					}
					d := time.Since(t0)
					after := s.Len()
					switch {
					case before == hot+storm && after == hot+storm:
						bases[w].add(d)
					case before > hot || after > hot && after < hot+storm:
						durings[w].add(d)
					}
				}
			})
		}
		time.Sleep(300 * time.Millisecond) // baseline
		clk.Advance(21 * time.Minute)
		start := time.Now()
		for s.Len() == hot+storm && time.Since(start) < 5*time.Second {
			time.Sleep(100 * time.Microsecond)
		}
		sweepStart := time.Now()
		for s.Len() > hot && time.Since(start) < 10*time.Second {
			time.Sleep(100 * time.Microsecond)
		}
		stormTime += time.Since(sweepStart)
		stop.Store(true)
		wg.Wait()
		if s.Len() != hot {
			b.Fatalf("Len() = %d 10 s after the storm began, want %d", s.Len(), hot)
		}
		for w := range workers {
			base.merge(&bases[w])
			during.merge(&durings[w])
		}
		s.Close()
	}
	b.ReportMetric(float64(during.quantile(0.50)), "storm-p50-ns")
	b.ReportMetric(float64(during.quantile(0.99)), "storm-p99-ns")
	b.ReportMetric(float64(during.quantile(0.999)), "storm-p99.9-ns")
	b.ReportMetric(float64(during.max), "storm-max-ns")
	b.ReportMetric(float64(during.n)/float64(b.N), "storm-ops")
	b.ReportMetric(float64(base.quantile(0.99)), "base-p99-ns")
	b.ReportMetric(float64(base.quantile(0.999)), "base-p99.9-ns")
	b.ReportMetric(float64(base.max), "base-max-ns")
	b.ReportMetric(float64(stormTime.Milliseconds())/float64(b.N), "sweep-ms")
	b.ReportMetric(0, "ns/op") // one op is a whole storm: meaningless
}

// BenchmarkMillionSessions stores 1,000,000 sessions of 1 KiB under
// ~100-byte keys and reports the heap in use and the process RSS. Run it
// alone (-run '^$' -bench MillionSessions -benchtime 1x) so nothing else
// inflates the figures.
func BenchmarkMillionSessions(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := vmRSS(b)
		s, err := memstore.New(memstore.Config{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		data := make([]byte, 1024)
		key := make([]byte, 0, 128)
		start := time.Now()
		for i := range n {
			key = fmt.Appendf(key[:0], "/LM/W3SVC/1/ROOT/ContosoShopFront.Web(3f2a9c1b7d4e)-1-133512345678901234/%024d", i)
			data[i%1024] = byte(i)
			// The string is built from a reused buffer on purpose: the store
			// must clone it.
			k := string(key)
			if err := backends.Put(ctx, s, k, backends.Record{Data: data, Timeout: 20, LockCookie: 1}); err != nil {
				b.Fatal(err)
			}
		}
		load := time.Since(start)
		rss := vmRSS(b)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rssAfterGC := vmRSS(b)
		keyLen := len(key)
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(rss-rss0)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(rssAfterGC)/(1<<20), "rss-after-gc-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/n-1024-float64(keyLen), "overhead-B/session")
		b.ReportMetric(float64(load.Nanoseconds())/n, "ns/put")
		b.ReportMetric(0, "ns/op")
		if s.Len() != n {
			b.Fatalf("Len() = %d", s.Len())
		}
		runtime.KeepAlive(s)
		s.Close()
	}
}

// vmRSS reads the resident set size from /proc/self/status.
func vmRSS(b *testing.B) int64 {
	b.Helper()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("reading RSS: %v", err)
	}
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("parsing %q: %v", line, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// latHist is a log-linear latency histogram (16 sub-buckets per power of
// two, about 6% resolution) that records without allocating.
type latHist struct {
	counts [1024]uint64
	n      uint64
	max    time.Duration
}

func latBucket(v uint64) int {
	if v < 32 {
		return int(v)
	}
	shift := bits.Len64(v) - 5
	return 32 + (shift-1)*16 + int(v>>shift) - 16
}

// latUpper is the largest value in bucket i.
func latUpper(i int) uint64 {
	if i < 32 {
		return uint64(i)
	}
	shift := (i-32)/16 + 1
	mant := uint64((i-32)%16 + 16)
	return (mant+1)<<shift - 1
}

func (h *latHist) add(d time.Duration) {
	h.counts[latBucket(uint64(max(d, 0)))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latHist) merge(o *latHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns an upper bound of the q-quantile, within one bucket.
func (h *latHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(latUpper(i)), h.max)
		}
	}
	return h.max
}

func TestLatHist(t *testing.T) {
	for v := uint64(0); v < 1<<20; v = v*9/8 + 1 {
		i := latBucket(v)
		if v > latUpper(i) || (i > 0 && v <= latUpper(i-1)) {
			t.Fatalf("value %d in bucket %d [%d, %d]", v, i, latUpper(i-1)+1, latUpper(i))
		}
	}
	var h latHist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	if p := h.quantile(0.99); p < 990*time.Microsecond || p > 990*time.Microsecond*107/100 {
		t.Fatalf("p99 = %v, want about 990µs", p)
	}
}
