package admin

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/peering"
)

// The metrics, all read at scrape time from counters the components keep.
var (
	descRequests = prometheus.NewDesc("aspstate_requests_total",
		"Requests answered, by operation (get, get_exclusive, release, set, remove, reset_timeout, or invalid: refused before it had one) and status.",
		[]string{"op", "status"}, nil)
	descDuration = prometheus.NewDesc("aspstate_request_duration_seconds",
		"Time from a request read to its answer ready to write, by operation.",
		[]string{"op"}, nil)
	descConnOpen = prometheus.NewDesc("aspstate_connections_open",
		"Web server connections open now.", nil, nil)
	descConnAccepted = prometheus.NewDesc("aspstate_connections_accepted_total",
		"Web server connections accepted.", nil, nil)
	descConnRejected = prometheus.NewDesc("aspstate_connections_rejected_total",
		"Web server connections refused at once (network not allowed, or max_connections reached).", nil, nil)
	descConnClosed = prometheus.NewDesc("aspstate_connections_closed_total",
		"Web server connections closed, by reason.", []string{"reason"}, nil)
	descBackendErrors = prometheus.NewDesc("aspstate_backend_errors_total",
		"Requests whose connection was closed because the backend could not answer.", []string{"backend"}, nil)
	descProtocolErrors = prometheus.NewDesc("aspstate_protocol_errors_total",
		"Connections closed for input that is not the protocol.", nil, nil)
	descHotDelayed = prometheus.NewDesc("aspstate_hot_delayed_total",
		"423s answered late because their session answered more than locking.hot_423s in 100 ms.", nil, nil)
)

// frontendCollector reports the front end's counters.
type frontendCollector struct {
	srv     *frontend.Server
	backend string
}

func (c *frontendCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descConnOpen, descConnAccepted,
		descConnRejected, descConnClosed, descBackendErrors, descProtocolErrors, descHotDelayed} {
		ch <- d
	}
}

func (c *frontendCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	rs := c.srv.Requests()
	for op := 0; op < frontend.NumOps; op++ {
		label := frontend.OpLabel(op)
		for j, code := range frontend.Statuses {
			if n := rs.Count[op][j]; n != 0 || op != 0 {
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), label, strconv.Itoa(code))
			}
		}
		if op == 0 {
			continue // refused requests are not timed apart
		}
		buckets := make(map[float64]uint64, len(frontend.DurationBounds))
		var cum uint64
		for i, b := range frontend.DurationBounds {
			cum += uint64(rs.Buckets[op][i])
			buckets[b] = cum
		}
		cum += uint64(rs.Buckets[op][len(frontend.DurationBounds)])
		sum := float64(rs.SumNanos[op]) / 1e9
		ch <- prometheus.MustNewConstHistogram(descDuration, cum, sum, buckets, label)
	}
	ch <- prometheus.MustNewConstMetric(descConnOpen, prometheus.GaugeValue, float64(st.Open.Load()))
	ch <- prometheus.MustNewConstMetric(descConnAccepted, prometheus.CounterValue, float64(st.Accepted.Load()))
	ch <- prometheus.MustNewConstMetric(descConnRejected, prometheus.CounterValue, float64(st.Rejected.Load()))
	for i, r := range frontend.CloseReasons {
		ch <- prometheus.MustNewConstMetric(descConnClosed, prometheus.CounterValue, float64(st.Closed[i].Load()), r)
	}
	ch <- prometheus.MustNewConstMetric(descBackendErrors, prometheus.CounterValue, float64(st.BackendErrors.Load()), c.backend)
	ch <- prometheus.MustNewConstMetric(descProtocolErrors, prometheus.CounterValue, float64(st.ProtocolErrs.Load()))
	ch <- prometheus.MustNewConstMetric(descHotDelayed, prometheus.CounterValue, float64(st.HotDelayed.Load()))
}

// buildInfo is aspstate_build_info, 1 with the version labels.
func buildInfo(version string) prometheus.Collector {
	if version == "" {
		version = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			version = bi.Main.Version
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "aspstate_build_info",
		Help:        "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

var (
	descPeerServing = prometheus.NewDesc("aspstate_peering_serving",
		"1 while this gateway serves its range of the farm, 0 while joining, leaving or refused.", nil, nil)
	descPeerLinkUp = prometheus.NewDesc("aspstate_peer_link_up",
		"1 while the link to the member is up.", []string{"member"}, nil)
	descPeerRTT = prometheus.NewDesc("aspstate_peer_link_rtt_seconds",
		"Last measured round trip to the member.", []string{"member"}, nil)
	descPeerMembers = prometheus.NewDesc("aspstate_peer_members",
		"Members of the view by state.", []string{"state"}, nil)
	descPeerHandoff = prometheus.NewDesc("aspstate_peering_handoff_complete",
		"1 when no hand-off is pending: in (members may still hold records this gateway owns) or out (this gateway holds records owned elsewhere).",
		[]string{"direction"}, nil)
)

func peerCounter(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("aspstate_peering_"+name, help, nil, nil)
}

var (
	descForwards        = peerCounter("forwards_total", "Requests forwarded to the member that owns the session.")
	descForwardFailures = peerCounter("forward_failures_total", "Forwarded requests that failed (their web server connection was closed).")
	descServed          = peerCounter("served_for_peers_total", "Requests run here for other gateways.")
	descNotOwner        = peerCounter("not_owner_retries_total", "Forwards retried because the view changed under them.")
	descMovedOut        = peerCounter("moved_out_total", "Sessions handed to another member (leave, join, declared death).")
	descMovedIn         = peerCounter("moved_in_total", "Sessions received from another member.")
	descPulls           = peerCounter("pulls_total", "Sessions pulled on demand during a hand-off.")
)

// peeringCollector reports peering.Node.Status.
type peeringCollector struct{ node *peering.Node }

func (c *peeringCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeerServing, descPeerLinkUp, descPeerRTT, descPeerMembers, descPeerHandoff,
		descForwards, descForwardFailures, descServed, descNotOwner, descMovedOut, descMovedIn, descPulls} {
		ch <- d
	}
}

func (c *peeringCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Status()
	ch <- prometheus.MustNewConstMetric(descPeerServing, prometheus.GaugeValue, b2f(st.Serving))
	ch <- prometheus.MustNewConstMetric(descPeerHandoff, prometheus.GaugeValue, b2f(st.HandoffIn), "in")
	ch <- prometheus.MustNewConstMetric(descPeerHandoff, prometheus.GaugeValue, b2f(st.HandoffOut), "out")
	states := map[string]int{}
	for _, m := range st.Members {
		states[m.State]++
		if m.Self {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descPeerLinkUp, prometheus.GaugeValue, b2f(m.LinkUp), m.ID)
		if d, err := time.ParseDuration(m.RTT); err == nil {
			ch <- prometheus.MustNewConstMetric(descPeerRTT, prometheus.GaugeValue, d.Seconds(), m.ID)
		}
	}
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(descPeerMembers, prometheus.GaugeValue, float64(n), state)
	}
	for d, v := range map[*prometheus.Desc]uint64{descForwards: st.Forwards, descForwardFailures: st.ForwardFailures,
		descServed: st.Served, descNotOwner: st.NotOwner, descMovedOut: st.MovedOut, descMovedIn: st.MovedIn, descPulls: st.Pulls} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
