package admin

import (
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aspstate/aspstate/frontend"
)

// overviewDoc is GET /api/overview (docs/admin-api.md). Counts that nothing
// measured are null.
type overviewDoc struct {
	Version      string   `json:"version"`
	Backend      string   `json:"backend"`
	BackendReady bool     `json:"backend_ready"`
	ReadyReason  string   `json:"ready_reason"`
	Sessions     *int64   `json:"sessions"`
	Bytes        *int64   `json:"bytes"`
	Locked       *int64   `json:"locked"`
	WalkAge      *float64 `json:"walk_age_seconds"`
	// WalkError is the last walk's failure ("" if none): the counts are
	// then the last good walk's.
	WalkError   string            `json:"walk_error,omitempty"`
	Connections int64             `json:"connections"`
	Requests    map[string]opRate `json:"requests"`
	Locks       []overviewLock    `json:"locks"`
	Peering     any               `json:"peering"`
	Config      map[string]any    `json:"config"`
}

// opRate is one operation's requests.
type opRate struct {
	Total     int64    `json:"total"`
	PerSecond float64  `json:"per_second"`
	P50ms     *float64 `json:"p50_ms"` // null without request timing or requests
	P99ms     *float64 `json:"p99_ms"`
}

type overviewLock struct {
	KeyHash  string    `json:"key_hash"`
	LockAge  float64   `json:"lock_age_seconds"`
	LockDate time.Time `json:"lock_date"`
}

// firstWalkWait bounds how long the first overview waits for the first walk.
const firstWalkWait = 2 * time.Second

// GET /api/overview: counts for the farm (Options.Sessions) or this gateway.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	doc := overviewDoc{Version: s.version(), Backend: s.o.BackendName, Config: s.o.EffectiveConfig,
		Locks: []overviewLock{}}
	doc.BackendReady, doc.ReadyReason = s.Ready(r.Context())
	now := s.o.Frontend.Now()
	if wr := s.farm.firstSnapshot(r.Context(), firstWalkWait); wr.initialized {
		sessions, bytes, locked := wr.sessions, wr.bytes, wr.locks
		age := time.Since(wr.at).Seconds()
		doc.Sessions, doc.Bytes, doc.Locked, doc.WalkAge = &sessions, &bytes, &locked, &age
		if wr.err != nil {
			doc.WalkError = wr.err.Error()
		}
		for _, l := range wr.oldest {
			doc.Locks = append(doc.Locks, overviewLock{KeyHash: l.keyHash, LockDate: l.lockDate.UTC(),
				LockAge: max(now.Sub(l.lockDate).Seconds(), 0)})
		}
	} else if l, ok := s.o.Backend.(lener); ok && s.o.Node == nil {
		n := int64(l.Len())
		doc.Sessions = &n
	}
	doc.Connections = s.o.Frontend.Stats().Open.Load()
	doc.Requests = s.rates.sample(s.o.Frontend)
	if s.o.Node != nil {
		doc.Peering = s.o.Node.Status()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) version() string {
	if s.o.Version != "" {
		return s.o.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "unknown"
}

// rateState turns the front end's request counters into rates: per_second
// and the percentiles are over the interval since an earlier overview (at
// least minRateInterval before); the first overview, with no earlier one,
// reports percentiles since start and no rate.
type rateState struct {
	mu   sync.Mutex // guards the fields
	prev frontend.RequestCounts
	at   time.Time // of prev; zero before the first overview
	last map[string]opRate
}

const minRateInterval = time.Second

func (rs *rateState) sample(srv *frontend.Server) map[string]opRate {
	cur := srv.Requests()
	now := time.Now()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.at.IsZero() && now.Sub(rs.at) < minRateInterval && rs.last != nil {
		// Too soon for a rate of its own: the last one, with current totals.
		out := make(map[string]opRate, len(rs.last))
		for op, r := range rs.last {
			r.Total = opTotal(&cur, opIndex(op))
			out[op] = r
		}
		return out
	}
	out := map[string]opRate{}
	for op := 1; op < frontend.NumOps; op++ {
		r := opRate{Total: opTotal(&cur, op)}
		var buckets [len(frontend.DurationBounds) + 1]int64
		for i := range buckets {
			buckets[i] = cur.Buckets[op][i]
		}
		if !rs.at.IsZero() {
			r.PerSecond = float64(r.Total-opTotal(&rs.prev, op)) / now.Sub(rs.at).Seconds()
			for i := range buckets {
				buckets[i] -= rs.prev.Buckets[op][i]
			}
		}
		r.P50ms, r.P99ms = quantileMs(buckets[:], 0.5), quantileMs(buckets[:], 0.99)
		out[frontend.OpLabel(op)] = r
	}
	rs.prev, rs.at, rs.last = cur, now, out
	return out
}

func opTotal(c *frontend.RequestCounts, op int) int64 {
	var n int64
	for _, v := range c.Count[op] {
		n += v
	}
	return n
}

func opIndex(label string) int {
	for i := 0; i < frontend.NumOps; i++ {
		if frontend.OpLabel(i) == label {
			return i
		}
	}
	return 0
}

// quantileMs estimates the q-quantile of the durations counted in buckets
// (frontend.DurationBounds, then the overflow), in milliseconds, by linear
// interpolation within the bucket it falls in, as Prometheus's
// histogram_quantile does; nil when nothing was counted. A quantile in the
// overflow bucket is reported as the last bound.
func quantileMs(buckets []int64, q float64) *float64 {
	var total int64
	for _, n := range buckets {
		total += n
	}
	if total <= 0 {
		return nil
	}
	rank := q * float64(total)
	var cum int64
	for i, n := range buckets {
		if n <= 0 || float64(cum+n) < rank {
			cum += n
			continue
		}
		if i == len(frontend.DurationBounds) {
			v := frontend.DurationBounds[i-1] * 1000
			return &v
		}
		lo := 0.0
		if i > 0 {
			lo = frontend.DurationBounds[i-1]
		}
		hi := frontend.DurationBounds[i]
		v := (lo + (hi-lo)*(rank-float64(cum))/float64(n)) * 1000
		return &v
	}
	v := frontend.DurationBounds[len(frontend.DurationBounds)-1] * 1000
	return &v
}
