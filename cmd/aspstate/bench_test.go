package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
)

func runBenchJSON(t *testing.T, args ...string) (*benchResult, runResult) {
	t.Helper()
	r := runTool(t, "", append([]string{"bench", "--json"}, args...)...)
	var res benchResult
	if r.stdout == "" {
		return nil, r
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("bench output %q: %v (stderr %s)", r.stdout, err, r.stderr)
	}
	return &res, r
}

func checkOrdered(t *testing.T, what string, s latencyStats) {
	t.Helper()
	if s.Count == 0 || s.P50 <= 0 || s.P50 > s.P99 || s.P99 > s.Max {
		t.Errorf("%s: latencies not ordered or empty: %+v", what, s)
	}
}

func TestBenchReadAgainstCeiling(t *testing.T) {
	srv, err := listenCeiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, r := runBenchJSON(t, "--server", srv.Addr(), "--scenario", "read", "--connections", "8",
		"--sessions", "200", "--duration", "800ms", "--warmup", "200ms")
	if r.code != 0 || res == nil {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if res.Requests == 0 || res.Errors != 0 || res.RPS <= 0 {
		t.Fatalf("requests %d, errors %d, rps %v", res.Requests, res.Errors, res.RPS)
	}
	checkOrdered(t, "all", res.Latency)
	if res.Ops["get"].Count != res.Requests {
		t.Errorf("get count %d, requests %d", res.Ops["get"].Count, res.Requests)
	}
}

func TestBenchInProcessCeilingTextOutput(t *testing.T) {
	r := runTool(t, "", "bench", "--ceiling", "--connections", "2", "--sessions", "10", "--duration", "200ms", "--warmup", "0s")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"scenario read", "requests/s, errors 0", "p50", "p99", "max"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// The ceiling answers a GetExclusive with a 200 but no LockCookie: every cycle
// is an error, counted and printed, and the exit status says so.
func TestBenchCountsErrors(t *testing.T) {
	srv, err := listenCeiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, r := runBenchJSON(t, "--server", srv.Addr(), "--scenario", "cycle", "--connections", "2",
		"--sessions", "10", "--duration", "200ms", "--warmup", "0s", "--print-errors", "3")
	if r.code != exitFail || res == nil || res.Errors == 0 {
		t.Fatalf("exit %d, result %+v", r.code, res)
	}
	if n := strings.Count(r.stderr, "without LockCookie"); n != 3 {
		t.Errorf("printed %d errors, want 3:\n%s", n, r.stderr)
	}
}

func TestBenchCycleAndMixedAgainstFake(t *testing.T) {
	addr := startFakeState(t, 0)
	for _, sc := range []string{"cycle", "mixed"} {
		res, r := runBenchJSON(t, "--server", addr, "--scenario", sc, "--connections", "4",
			"--sessions", "50", "--payload", "300", "--duration", "300ms", "--warmup", "100ms")
		if r.code != 0 || res == nil || res.Errors != 0 {
			t.Fatalf("%s: exit %d, stderr %s", sc, r.code, r.stderr)
		}
		checkOrdered(t, sc+" acquire", res.Ops["acquire"])
		checkOrdered(t, sc+" set", res.Ops["set"])
		if sc == "mixed" {
			checkOrdered(t, "mixed get", res.Ops["get"])
		}
	}
	// Without setup nothing is stored: every Get is a 404, an error.
	res, r := runBenchJSON(t, "--server", addr, "--scenario", "read", "--setup=false", "--app", "/other",
		"--connections", "2", "--sessions", "10", "--duration", "100ms", "--warmup", "0s")
	if r.code != exitFail || res == nil || res.Errors == 0 || !strings.Contains(r.stderr, "unexpected 404") {
		t.Errorf("read without setup: exit %d, %+v, stderr %s", r.code, res, r.stderr)
	}
}

func TestBenchContend(t *testing.T) {
	addr := startFakeState(t, 0)
	res, r := runBenchJSON(t, "--server", addr, "--scenario", "contend", "--connections", "4",
		"--duration", "500ms", "--warmup", "100ms", "--poll", "1ms")
	if r.code != 0 || res == nil || res.Errors != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if res.Cycles == 0 || res.CyclesPerS <= 0 || res.Handoff == nil {
		t.Fatalf("no hand-offs: %+v", res)
	}
	checkOrdered(t, "handoff", *res.Handoff)
	if res.CounterSeen != res.CyclesAcked || res.CyclesAcked < res.Cycles {
		t.Errorf("counter %d, acknowledged %d, measured %d", res.CounterSeen, res.CyclesAcked, res.Cycles)
	}
}

// A server that acknowledges a write it did not keep must not pass.
func TestBenchContendDetectsLostWrites(t *testing.T) {
	addr := startFakeState(t, 5)
	res, r := runBenchJSON(t, "--server", addr, "--scenario", "contend", "--connections", "3",
		"--duration", "200ms", "--warmup", "0s", "--poll", "1ms")
	if r.code != exitFail || res == nil || res.Errors == 0 || !strings.Contains(r.stderr, "lost or phantom writes") {
		t.Fatalf("exit %d, %+v, stderr %s", r.code, res, r.stderr)
	}
}

// The bench must not be the bottleneck: a round trip, the latency record and
// the bookkeeping around it do not allocate.
func TestWorkerRequestDoesNotAllocate(t *testing.T) {
	srv, err := listenCeiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	b := &benchRun{cfg: benchConfig{Server: srv.Addr(), NetTimeout: 5 * time.Second, MaxErrors: 1}, errLog: io.Discard,
		payload: benchPayload(ceilingBodyBytes)}
	b.targets = []string{wire.ClientTarget(defaultApp, sessionID(0))}
	b.start = time.Now()
	b.end = b.start.Add(time.Hour)
	w := &worker{id: 1, b: b, own: []int{0}, payload: b.payload, rng: rand.New(rand.NewPCG(1, 1))}
	if !w.connect(context.Background()) {
		t.Fatal("cannot connect")
	}
	defer w.c.Close()
	w.get(w.pick()) // grow the buffers
	if n := testing.AllocsPerRun(200, func() { w.get(w.pick()) }); n != 0 {
		t.Errorf("%v allocations per Get", n)
	}
	if e := b.errs.Load(); e != 0 || w.hist[opGet].n != 202 { // AllocsPerRun runs f once more to warm up
		t.Errorf("errors %d, recorded %d", e, w.hist[opGet].n)
	}
}

// p2pStateServer's status lines have no "HTTP/1.1 " prefix.
func TestBenchReadWithoutHTTPPrefix(t *testing.T) {
	addr, _ := scripted(t, "200 OK\r\nX-AspNet-Version: 2.0.50727\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 1024\r\n\r\n"+
		string(benchPayload(1024)))
	res, r := runBenchJSON(t, "--server", addr, "--connections", "2", "--sessions", "4", "--duration", "200ms", "--warmup", "0s")
	if r.code != 0 || res == nil || res.Errors != 0 || res.Requests == 0 {
		t.Fatalf("exit %d, %+v, stderr %s", r.code, res, r.stderr)
	}
}

func TestCeilingPipelinedAndLargeRequests(t *testing.T) {
	srv, err := listenCeiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	get := wire.AppendRequest(nil, &wire.ClientRequest{Method: wire.MethodGet, Target: "k"})
	in := append(bytes.Repeat(get, 2), wire.AppendRequest(nil, &wire.ClientRequest{Method: wire.MethodPut, Target: "k",
		Body: make([]byte, 300<<10)})...)
	go c.Write(in)
	got := make([]byte, 3*len(srv.resp))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat(srv.resp, 3)) {
		t.Error("the answers are not three copies of the fixed response")
	}
	// Garbage: the ceiling closes the connection.
	c.Write([]byte("garbage\r\n\r\n"))
	if n, err := c.Read(got); err == nil {
		t.Errorf("read %d bytes after garbage, want the connection closed", n)
	}
}
