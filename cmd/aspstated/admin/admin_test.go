package admin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/backends/redisstore"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// gateway is a front end on be, served on loopback, with its admin Server.
type gateway struct {
	t    *testing.T
	addr string
	srv  *frontend.Server
	adm  *Server
	logs *bytes.Buffer
}

func start(t *testing.T, be backends.Backend, name string, mod func(*Options)) *gateway {
	t.Helper()
	return startFE(t, be, name, nil, mod)
}

// startFE is start with fmod adjusting the front end's configuration.
func startFE(t *testing.T, be backends.Backend, name string, fmod func(*frontend.Config), mod func(*Options)) *gateway {
	t.Helper()
	logs := new(bytes.Buffer)
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fcfg := frontend.Config{Backend: be, Logger: log, RequestTiming: true}
	if fmod != nil {
		fmod(&fcfg)
	}
	srv, err := frontend.New(fcfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	o := Options{Frontend: srv, Backend: be, BackendName: name, Logger: log, ProbeTimeout: 500 * time.Millisecond,
		Config: Config{StoreStatsInterval: time.Second}}
	if mod != nil {
		mod(&o)
	}
	adm, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		adm.Shutdown(context.Background())
	})
	return &gateway{t: t, addr: ln.Addr().String(), srv: srv, adm: adm, logs: logs}
}

// get fetches path from the admin handler.
func (g *gateway) get(path string) (int, string) {
	g.t.Helper()
	rec := httptest.NewRecorder()
	g.adm.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// metric returns the value of the sample named exactly name (with labels as
// in the exposition, e.g. `aspstate_sessions` or
// `aspstate_requests_total{op="get",status="404"}`), or -1 when absent.
func (g *gateway) metric(name string) float64 {
	g.t.Helper()
	code, body := g.get("/metrics")
	if code != 200 {
		g.t.Fatalf("/metrics: %d %s", code, body)
	}
	return sample(body, name)
}

func sample(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// session runs requests on one connection and returns the statuses.
func (g *gateway) session(reqs ...*wire.ClientRequest) []int {
	g.t.Helper()
	var out []int
	for _, r := range g.responses(reqs...) {
		out = append(out, r.Status)
	}
	return out
}

// responses runs requests on one connection and returns the responses.
func (g *gateway) responses(reqs ...*wire.ClientRequest) []wire.ClientResponse {
	g.t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	defer c.Close()
	var out []wire.ClientResponse
	var buf []byte
	tmp := make([]byte, 4096)
	for _, r := range reqs {
		r.Host = "h"
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(wire.AppendRequest(nil, r)); err != nil {
			g.t.Fatal(err)
		}
		for {
			var resp wire.ClientResponse
			n, err := wire.ParseResponse(buf, &resp)
			if err == nil {
				resp.Body = bytes.Clone(resp.Body)
				buf = buf[n:]
				out = append(out, resp)
				break
			}
			m, rerr := c.Read(tmp)
			if rerr != nil {
				g.t.Fatalf("reading a response: %v (%d answers so far)", rerr, len(out))
			}
			buf = append(buf, tmp[:m]...)
		}
	}
	return out
}

func num(v int32) locking.Num { return locking.Num{Value: v, Present: true, Valid: true} }

func put(key string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodPut, Target: "/app/" + key, Timeout: num(20), Body: []byte("session data")}
}
func get(key string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: "/app/" + key}
}
func lock(key string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: "/app/" + key, Exclusive: wire.ExclusiveAcquire}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
	}
}

func newMem(t *testing.T) *memstore.Store {
	be, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func TestMetricsCountRequestsAndConnections(t *testing.T) {
	g := start(t, newMem(t), "memory", nil)
	got := g.session(put("alpha-session-id"), get("alpha-session-id"), get("missing-session-id"), lock("alpha-session-id"), lock("alpha-session-id"))
	if want := []int{200, 200, 404, 200, 423}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	// The connection has closed, so its counts are published (the request
	// counts and the connection's close are published one after the other).
	eventually(t, "counters published", func() bool {
		return g.metric(`aspstate_requests_total{op="get",status="404"}`) == 1 &&
			g.metric(`aspstate_connections_closed_total{reason="client_closed"}`) == 1 &&
			g.metric(`aspstate_connections_open`) == 0
	})
	for name, want := range map[string]float64{
		`aspstate_requests_total{op="set",status="200"}`:               1,
		`aspstate_requests_total{op="get",status="200"}`:               1,
		`aspstate_requests_total{op="get_exclusive",status="200"}`:     1,
		`aspstate_requests_total{op="get_exclusive",status="423"}`:     1,
		`aspstate_request_duration_seconds_count{op="get"}`:            2,
		`aspstate_request_duration_seconds_bucket{op="get",le="+Inf"}`: 2,
		`aspstate_connections_accepted_total`:                          1,
		`aspstate_connections_closed_total{reason="client_closed"}`:    1,
		`aspstate_connections_open`:                                    0,
		`aspstate_backend_errors_total{backend="memory"}`:              0,
		`aspstate_sessions`:      1,
		`aspstate_session_bytes`: float64(len("/app/alpha-session-id") + len("session data")),
	} {
		if v := g.metric(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := g.metric(`aspstate_request_duration_seconds_sum{op="get"}`); v <= 0 {
		t.Errorf("duration sum %v, want > 0", v)
	}
}

func TestMetricsNameAndLabelConventions(t *testing.T) {
	g := start(t, newMem(t), "memory", nil)
	g.session(put("k"), get("k"))
	_, body := g.get("/metrics")
	for _, want := range []string{"aspstate_sessions ", "aspstate_session_bytes ", "aspstate_connections_open ",
		"# TYPE aspstate_requests_total counter", "# TYPE aspstate_request_duration_seconds histogram",
		"# TYPE aspstate_connections_closed_total counter", "aspstate_build_info{", "go_goroutines "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Counters end in _total, and nothing but aspstate_, go_, process_ and promhttp_.
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)`).FindAllStringSubmatch(body, -1) {
		name, typ := m[1], m[2]
		if typ == "counter" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if !regexp.MustCompile(`^(aspstate|go|process|promhttp)_[a-z0-9_]+$`).MatchString(name) {
			t.Errorf("metric name %q", name)
		}
	}
}

func TestLockGaugesComeFromACachedWalk(t *testing.T) {
	g := start(t, newMem(t), "memory", nil)
	g.session(put("one"), put("two"), lock("one"))
	g.metric("aspstate_sessions") // starts the first walk
	g.adm.store.wait()
	if v := g.metric("aspstate_locks_held"); v != 1 {
		t.Fatalf("locks held %v, want 1", v)
	}
	if v := g.metric("aspstate_lock_age_max_seconds"); v < 0 || v > 60 {
		t.Fatalf("oldest lock age %v", v)
	}
	// A second lock is not seen until the interval has passed: scrapes do
	// not walk the store each time.
	g.session(lock("two"))
	g.adm.store.wait()
	if v := g.metric("aspstate_locks_held"); v != 1 {
		t.Fatalf("locks held %v right after a walk, want the cached 1", v)
	}
	time.Sleep(1100 * time.Millisecond)
	g.metric("aspstate_locks_held")
	g.adm.store.wait()
	if v := g.metric("aspstate_locks_held"); v != 2 {
		t.Fatalf("locks held %v after the interval, want 2", v)
	}
}

func TestHealthAndReadinessOnAClosedStore(t *testing.T) {
	be := newMem(t)
	g := start(t, be, "memory", nil)
	if code, body := g.get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := g.get("/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	be.Close()
	code, body := g.get("/readyz")
	if code != 503 || !strings.Contains(body, "backend memory cannot answer") {
		t.Fatalf("/readyz on a closed store: %d %q", code, body)
	}
	if code, _ := g.get("/healthz"); code != 200 {
		t.Fatalf("/healthz on a closed store: %d", code)
	}
}

func TestNotReadyWhileShuttingDown(t *testing.T) {
	g := start(t, newMem(t), "memory", nil)
	g.adm.SetNotReady("shutting down")
	if code, body := g.get("/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz: %d %q", code, body)
	}
}

func TestReadinessFollowsRedis(t *testing.T) {
	const password = "s3cret-redis-password"
	rs := redistest.Start(t, "--requirepass", password)
	be, err := redisstore.Open(redisstore.Config{Addrs: []string{rs.Addr()}, Password: password,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		OpTimeout: 400 * time.Millisecond, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := start(t, be, "redis", nil)
	g.session(put("redis-session"))
	if code, body := g.get("/readyz"); code != 200 {
		t.Fatalf("/readyz with Redis up: %d %q", code, body)
	}
	rs.Stop()
	eventually(t, "/readyz fails with Redis down", func() bool { code, _ := g.get("/readyz"); return code == 503 })
	_, body := g.get("/readyz")
	if !strings.Contains(body, "backend redis cannot answer") {
		t.Errorf("/readyz body %q", body)
	}
	rs.Restart()
	eventually(t, "/readyz recovers with Redis back", func() bool { code, _ := g.get("/readyz"); return code == 200 })

	_, metrics := g.get("/metrics")
	if strings.Contains(metrics, password) || strings.Contains(body, password) || strings.Contains(g.logs.String(), password) {
		t.Fatal("the Redis password appears on the admin listener or in the logs")
	}
	if !strings.Contains(metrics, `aspstate_redis_pool_connections{state="total"}`) {
		t.Error("no Redis pool metrics")
	}
}

func TestPprofOnlyWhenAskedAndNeverTheCommandLine(t *testing.T) {
	g := start(t, newMem(t), "memory", nil)
	if code, _ := g.get("/debug/pprof/"); code != 404 {
		t.Fatalf("pprof off: /debug/pprof/ answered %d", code)
	}
	g = start(t, newMem(t), "memory", func(o *Options) { o.Pprof = true })
	if code, _ := g.get("/debug/pprof/"); code != 200 {
		t.Fatalf("pprof on: /debug/pprof/ answered %d", code)
	}
	if code, body := g.get("/debug/pprof/cmdline"); code != 404 {
		t.Fatalf("/debug/pprof/cmdline answered %d %q", code, body)
	}
}

func TestListenServesOverHTTP(t *testing.T) {
	g := start(t, newMem(t), "memory", nil)
	addr, err := g.adm.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	if resp, err := http.Get("http://" + addr.String() + "/peers"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("/peers without peering: %d", resp.StatusCode)
		}
	}
}

func TestExpiredSessionsAreCounted(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	be, err := memstore.New(memstore.Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := start(t, be, "memory", nil)
	g.session(put("short-lived"))
	if v := g.metric("aspstate_sessions_expired_total"); v != 0 {
		t.Fatalf("expired %v before any expiry", v)
	}
	mu.Lock()
	now = now.Add(21 * time.Minute)
	mu.Unlock()
	g.session(get("short-lived"))
	eventually(t, "one expiry counted", func() bool { return g.metric("aspstate_sessions_expired_total") == 1 })
}
