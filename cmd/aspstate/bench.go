package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering"
)

// benchConfig is what one bench run does.
type benchConfig struct {
	Server      string
	App         string
	Connections int
	Duration    time.Duration
	Warmup      time.Duration
	Sessions    int
	Payload     int
	Scenario    string
	Setup       bool
	ReadPercent int           // mixed: share of plain Gets
	Poll        time.Duration // contend: sleep after a 423
	Think       time.Duration // contend: pause after each cycle
	Hold        time.Duration // contend: hold the lock this long before the Set
	NetTimeout  time.Duration
	MaxErrors   int // errors printed (all are counted)
	// Owner and Members aim the load at the sessions one peered gateway owns.
	Owner   string
	Members []string
}

func (c *benchConfig) validate() error {
	if c.Owner != "" {
		ids := make([]string, 0, len(c.Members))
		for _, m := range c.Members {
			id, _, _ := strings.Cut(m, "=")
			ids = append(ids, id)
		}
		c.Members = ids
		if !slices.Contains(ids, c.Owner) {
			return fmt.Errorf("--owner %q is not one of --members %v", c.Owner, ids)
		}
	}
	switch c.Scenario {
	case "read", "cycle", "mixed", "contend", "new":
	default:
		return fmt.Errorf("unknown scenario %q (want read, cycle, mixed, contend or new)", c.Scenario)
	}
	switch {
	case c.Connections < 1:
		return errors.New("--connections must be at least 1")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case c.Sessions < 1:
		return errors.New("--sessions must be at least 1")
	case c.Payload < 0:
		return errors.New("--payload must not be negative")
	case c.ReadPercent < 0 || c.ReadPercent > 100:
		return errors.New("--read-percent must be 0..100")
	case c.Poll < 0:
		return errors.New("--poll must not be negative")
	case c.Think < 0 || c.Hold < 0:
		return errors.New("--think and --hold must not be negative")
	}
	if (c.Scenario == "cycle" || c.Scenario == "mixed") && c.Sessions < c.Connections {
		return errors.New("--sessions must be at least --connections: each connection locks only its own sessions, so any 423 is an error (use --scenario contend to measure contention)")
	}
	return nil
}

// Operation kinds, recorded in separate histograms.
const (
	opGet     = iota // plain Get answered 200
	opAcquire        // GetExclusive answered 200
	opSet            // PUT answered 200
	opLocked         // any request answered 423 (contend: polls)
	opOther          // any other answer (counted as an error)
	opMiss           // new: GetExclusive of a new session answered 404
	numOps
)

var opNames = [numOps]string{"get", "acquire", "set", "locked", "other", "miss"}

// benchRun is the state shared by the connections of one run.
type benchRun struct {
	cfg     benchConfig
	targets []string // request target of each session
	payload []byte   // the body of every PUT (contend: the counter blob)
	runID   uint32   // new: makes this run's session IDs unlike earlier runs'

	errLog io.Writer

	start, end time.Time // the measurement window; warmup is before start

	errs      atomic.Int64
	errMu     sync.Mutex // serialises printed errors
	contend   *contendState
	setupErrs atomic.Int64
}

func (b *benchRun) errorf(format string, args ...any) {
	n := b.errs.Add(1)
	if int(n) <= b.cfg.MaxErrors {
		b.errMu.Lock()
		fmt.Fprintf(b.errLog, "bench: error: "+format+"\n", args...)
		if int(n) == b.cfg.MaxErrors {
			fmt.Fprintln(b.errLog, "bench: further errors are counted, not printed")
		}
		b.errMu.Unlock()
	}
}

// worker is one connection and the goroutine that drives it.
type worker struct {
	id      int
	b       *benchRun
	c       *client
	req     wire.ClientRequest
	resp    wire.ClientResponse
	rng     *rand.Rand
	own     []int // session indexes this connection uses
	payload []byte
	hist    [numOps]histogram
	seq     histogram // new: the whole new-session sequence
	fresh   int       // new: sessions created so far
	cycles  int64     // contend: acknowledged cycles in the window
	// contend: when this connection began asking for the lock it holds or
	// wants (zero between cycles); a hand-off counts only for a connection
	// that was already asking when the lock was released.
	waitFrom time.Time
}

func (w *worker) connect(ctx context.Context) bool {
	if w.c != nil {
		return true
	}
	c, err := dialClient(ctx, w.b.serverFor(w.id), w.b.cfg.NetTimeout)
	if err != nil {
		if ctx.Err() == nil {
			w.b.errorf("conn %d: %v", w.id, err)
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	c.timeout = 0
	// One deadline for the whole run: a server that stops answering ends the
	// run at the latest network-timeout after its end.
	c.conn.SetDeadline(w.b.end.Add(w.b.cfg.NetTimeout))
	w.c = c
	return true
}

// do runs w.req and records its latency under op when the answer is 200 and
// it lies inside the window. ok is false on a transport error (reported, the
// connection is dropped and reopened by the next connect).
func (w *worker) do(op int) (ok bool, t1 time.Time) {
	t0 := time.Now()
	err := w.c.roundTrip(&w.req, &w.resp)
	t1 = time.Now()
	if err != nil {
		w.b.errorf("conn %d: %s: %v", w.id, w.req.Method, err)
		w.c.Close()
		w.c = nil
		return false, t1
	}
	switch w.resp.Status {
	case 200:
	case 404:
		if op != opMiss {
			op = opOther
		}
	case 423:
		op = opLocked
	default:
		op = opOther
	}
	if !t0.Before(w.b.start) && !t1.After(w.b.end) {
		w.hist[op].record(t1.Sub(t0))
	}
	return true, t1
}

func (w *worker) unexpected(what string) {
	w.b.errorf("conn %d: %s %s: unexpected %d %s", w.id, what, w.req.Target, w.resp.Status, w.resp.Reason)
}

func (w *worker) set(target string, cookie locking.Num, body []byte) {
	w.req = wire.ClientRequest{Method: wire.MethodPut, Target: target, Host: w.b.cfg.Server,
		Timeout: locking.N(locking.DefaultTimeout), LockCookie: cookie, Body: body}
}

// get is a read-only page: Get, expecting the payload back.
func (w *worker) get(target string) {
	w.req = wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: w.b.cfg.Server}
	if ok, _ := w.do(opGet); !ok {
		return
	}
	if w.resp.Status != 200 {
		w.unexpected("Get")
		return
	}
	if !bytes.Equal(w.resp.Body, w.payload) {
		w.b.errorf("conn %d: Get %s: body of %d bytes differs from the %d bytes stored", w.id, target, len(w.resp.Body), len(w.payload))
	}
}

// cycle is a read-write page: GetExclusive, then Set with the cookie.
func (w *worker) cycle(target string) {
	w.req = wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: w.b.cfg.Server, Exclusive: wire.ExclusiveAcquire}
	if ok, _ := w.do(opAcquire); !ok {
		return
	}
	if w.resp.Status != 200 {
		w.unexpected("GetExclusive")
		return
	}
	if !w.resp.LockCookie.Present {
		w.b.errorf("conn %d: GetExclusive %s: 200 without LockCookie", w.id, target)
		return
	}
	if len(w.resp.Body) != len(w.payload) {
		w.b.errorf("conn %d: GetExclusive %s: body of %d bytes, stored %d", w.id, target, len(w.resp.Body), len(w.payload))
	}
	w.set(target, w.resp.LockCookie, w.payload)
	if ok, _ := w.do(opSet); ok && w.resp.Status != 200 {
		w.unexpected("Set")
	}
}

func (w *worker) pick() string {
	return w.b.targets[w.own[w.rng.IntN(len(w.own))]]
}

func (w *worker) loop(ctx context.Context) {
	cfg := &w.b.cfg
	for ctx.Err() == nil && time.Now().Before(w.b.end) {
		if !w.connect(ctx) {
			continue
		}
		switch cfg.Scenario {
		case "read":
			w.get(w.pick())
		case "cycle":
			w.cycle(w.pick())
		case "mixed":
			if w.rng.IntN(100) < cfg.ReadPercent {
				w.get(w.pick())
			} else {
				w.cycle(w.pick())
			}
		case "contend":
			w.contendCycle(ctx)
		case "new":
			w.newSession()
		}
	}
}

// setup stores every session this connection owns, so that reads find them.
// A session left locked by an earlier run is overwritten with the cookie
// from its 423, as the client's forced release would.
func (w *worker) setup(ctx context.Context) {
	for _, i := range w.own {
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				return
			}
			if !w.connect(ctx) {
				w.b.setupErrs.Add(1)
				return
			}
			cookie := locking.N(0)
			if attempt > 0 {
				cookie = w.resp.LockCookie
			}
			w.set(w.b.targets[i], cookie, w.payload)
			ok, _ := w.do(opSet)
			if !ok {
				w.b.setupErrs.Add(1)
				break
			}
			if w.resp.Status == 423 && attempt == 0 {
				continue
			}
			if w.resp.Status != 200 {
				w.b.setupErrs.Add(1)
				w.unexpected("setup Set")
			}
			break
		}
	}
}

// bench runs one load test. Errors it counts are in the result; the error it
// returns means the run could not take place.
func bench(ctx context.Context, cfg benchConfig, errLog io.Writer) (*benchResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxErrors == 0 {
		cfg.MaxErrors = 10
	}
	b := &benchRun{cfg: cfg, errLog: errLog, runID: rand.Uint32()}
	payload := benchPayload(cfg.Payload)
	b.payload = payload

	workers := make([]*worker, cfg.Connections)
	for i := range workers {
		workers[i] = &worker{id: i + 1, b: b, rng: rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15)),
			payload: payload}
	}
	// Far-off window during setup, so that setup is neither measured nor cut short.
	b.start = time.Now().Add(24 * time.Hour)
	b.end = b.start.Add(cfg.NetTimeout + time.Hour)

	var setupTook time.Duration
	if cfg.Scenario == "contend" {
		if err := b.setupContend(ctx, workers); err != nil {
			return nil, err
		}
	} else if cfg.Scenario != "new" { // new makes its sessions as it goes
		b.targets = benchTargets(&cfg)
		for i := range cfg.Sessions {
			w := workers[i%len(workers)]
			w.own = append(w.own, i)
		}
		if cfg.Sessions < cfg.Connections { // read only: share sessions
			for i := cfg.Sessions; i < cfg.Connections; i++ {
				workers[i].own = []int{i % cfg.Sessions}
			}
		}
		if cfg.Setup {
			t0 := time.Now()
			runAll(workers, func(w *worker) { w.setup(ctx) })
			setupTook = time.Since(t0)
			if n := b.setupErrs.Load(); n > 0 {
				return nil, fmt.Errorf("setup: %d of %d sessions could not be stored", n, cfg.Sessions)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	b.start = time.Now().Add(cfg.Warmup)
	b.end = b.start.Add(cfg.Duration)
	for _, w := range workers {
		if w.c != nil {
			w.c.conn.SetDeadline(b.end.Add(cfg.NetTimeout))
		}
	}
	runAll(workers, func(w *worker) { w.loop(ctx) })
	for _, w := range workers {
		if w.c != nil {
			w.c.Close()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if cfg.Scenario == "contend" {
		b.verifyContend(ctx)
	}
	return b.result(workers, setupTook), nil
}

func runAll(workers []*worker, f func(*worker)) {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { f(w) })
	}
	wg.Wait()
}

// benchPayload is the blob bench stores. The ceiling server answers with
// benchPayload(ceilingBodyBytes), so a read bench against it with the default
// --payload sees the body it expects.
func benchPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// sessionID makes a 24-character id like the ones SessionIDManager creates.
// benchTargets returns the sessions' request targets: the first
// cfg.Sessions session IDs, or with --owner the first ones that gateway owns.
func benchTargets(cfg *benchConfig) []string {
	out := make([]string, 0, cfg.Sessions)
	for i := 0; len(out) < cfg.Sessions; i++ {
		t := wire.ClientTarget(cfg.App, sessionID(i))
		if cfg.Owner == "" || peering.OwnerAmong(wire.TargetKey(t), cfg.Members) == cfg.Owner {
			out = append(out, t)
		}
	}
	return out
}

func sessionID(i int) string {
	s := strconv.Itoa(i)
	const base = "benchsession000000000000"
	return base[:len(base)-len(s)] + s
}

type latencyStats struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

func statsOf(h *histogram) latencyStats {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return latencyStats{Count: int64(h.n), P50: us(h.percentile(50)), P99: us(h.percentile(99)),
		Max: us(time.Duration(h.max)), Mean: us(h.mean())}
}

type benchResult struct {
	Scenario    string                  `json:"scenario"`
	Server      string                  `json:"server"`
	Connections int                     `json:"connections"`
	Sessions    int                     `json:"sessions"`
	Payload     int                     `json:"payload_bytes"`
	Duration    float64                 `json:"duration_s"`
	Warmup      float64                 `json:"warmup_s"`
	SetupS      float64                 `json:"setup_s,omitempty"`
	Requests    int64                   `json:"requests"`
	RPS         float64                 `json:"requests_per_s"`
	Errors      int64                   `json:"errors"`
	Latency     latencyStats            `json:"latency"`
	Ops         map[string]latencyStats `json:"ops"`
	// contend only
	Cycles      int64         `json:"cycles,omitempty"`
	CyclesPerS  float64       `json:"handoffs_per_s,omitempty"`
	Handoff     *latencyStats `json:"handoff,omitempty"`
	Sequence    *latencyStats `json:"new_session_sequence,omitempty"`
	CounterSeen int64         `json:"counter,omitempty"`
	CyclesAcked int64         `json:"cycles_acked_total,omitempty"`
}

func (b *benchRun) result(workers []*worker, setupTook time.Duration) *benchResult {
	cfg := &b.cfg
	var all histogram
	var per [numOps]histogram
	var cycles int64
	var seq histogram
	for _, w := range workers {
		for op := range numOps {
			per[op].merge(&w.hist[op])
			all.merge(&w.hist[op])
		}
		seq.merge(&w.seq)
		cycles += w.cycles
	}
	secs := cfg.Duration.Seconds()
	r := &benchResult{
		Scenario: cfg.Scenario, Server: cfg.Server, Connections: cfg.Connections,
		Sessions: cfg.Sessions, Payload: cfg.Payload,
		Duration: secs, Warmup: cfg.Warmup.Seconds(), SetupS: setupTook.Seconds(),
		Requests: int64(all.n), RPS: float64(all.n) / secs, Errors: b.errs.Load(),
		Latency: statsOf(&all), Ops: make(map[string]latencyStats),
	}
	for op := range numOps {
		if per[op].n > 0 {
			r.Ops[opNames[op]] = statsOf(&per[op])
		}
	}
	if seq.n > 0 {
		st := statsOf(&seq)
		r.Sequence = &st
	}
	if st := b.contend; st != nil {
		r.Sessions = 1
		r.Cycles = cycles
		r.CyclesPerS = float64(cycles) / secs
		h := statsOf(&st.hist)
		r.Handoff = &h
		r.CounterSeen = st.counter
		r.CyclesAcked = st.acked.Load()
	}
	return r
}

func (r *benchResult) print(w io.Writer) {
	ms := func(us float64) string { return strconv.FormatFloat(us/1e3, 'f', 3, 64) + "ms" }
	line := func(name string, s latencyStats) {
		fmt.Fprintf(w, "  %-8s %10d  p50 %s  p99 %s  max %s\n", name, s.Count, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	sessions := strconv.Itoa(r.Sessions) + " sessions"
	if r.Handoff != nil {
		sessions = "one session"
	}
	fmt.Fprintf(w, "scenario %s against %s: %d connections, %s, %d-byte payload, %gs measured after %gs warmup\n",
		r.Scenario, r.Server, r.Connections, sessions, r.Payload, r.Duration, r.Warmup)
	if r.SetupS > 0 {
		fmt.Fprintf(w, "setup: %d sessions stored in %.2fs\n", r.Sessions, r.SetupS)
	}
	fmt.Fprintf(w, "requests %d, %.0f requests/s, errors %d (setup and warmup included)\n", r.Requests, r.RPS, r.Errors)
	line("all", r.Latency)
	for op := range numOps {
		if s, ok := r.Ops[opNames[op]]; ok {
			line(opNames[op], s)
		}
	}
	if r.Sequence != nil {
		line("sequence", *r.Sequence)
	}
	if r.Handoff != nil {
		fmt.Fprintf(w, "hand-offs %d, %.0f/s (blob counter %d, cycles acknowledged %d)\n", r.Cycles, r.CyclesPerS, r.CounterSeen, r.CyclesAcked)
		line("handoff", *r.Handoff)
	}
}

func runBench(ctx context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate bench", pflag.ContinueOnError)
	var cfg benchConfig
	fs.StringVar(&cfg.Server, "server", defaultServer, "state server host:port; several, comma separated, are used by the connections in turn")
	fs.StringVar(&cfg.App, "app", defaultApp, "application id of the generated sessions")
	fs.IntVar(&cfg.Connections, "connections", 50, "connections, one goroutine and one request in flight each")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before measuring starts")
	fs.IntVar(&cfg.Sessions, "sessions", 10000, "sessions (read, cycle, mixed; each connection uses its own share)")
	fs.IntVar(&cfg.Payload, "payload", 1024, "session blob size in bytes (contend: at least 8)")
	fs.StringVar(&cfg.Scenario, "scenario", "read", "read (Get), cycle (GetExclusive + Set), mixed (--read-percent Gets, the rest cycles), contend (every connection on one session), new (a new session each time: GetExclusive 404, PUT ExtraFlags 1, GetExclusive, PUT)")
	fs.BoolVar(&cfg.Setup, "setup", true, "store every session before measuring (contend always stores its session)")
	fs.IntVar(&cfg.ReadPercent, "read-percent", 80, "mixed: percentage of plain Gets")
	fs.DurationVar(&cfg.Poll, "poll", time.Millisecond, "contend: wait after a 423 before asking again (500ms polls like ASP.NET's session module: the baseline for lock wait)")
	fs.DurationVar(&cfg.Think, "think", 0, "contend: pause after each cycle, like a user's next request (so the releaser does not take the lock straight back)")
	fs.DurationVar(&cfg.Hold, "hold", 0, "contend: hold the lock this long before storing, like a page executing")
	fs.DurationVar(&cfg.NetTimeout, "network-timeout", 10*time.Second, "connect timeout; also how long after the end a stuck request may take")
	fs.IntVar(&cfg.MaxErrors, "print-errors", 10, "errors printed (all are counted)")
	fs.StringVar(&cfg.Owner, "owner", "", "peering: use only sessions this member ID owns (needs --members)")
	fs.StringSliceVar(&cfg.Members, "members", nil, "peering: the farm's member IDs (or id=host:port entries), for --owner")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	ceiling := fs.Bool("ceiling", false, "start an in-process ceiling server on 127.0.0.1:0 and bench it instead of --server (it shares this process's CPU)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: aspstate bench [flags]\n\nA protocol load generator. Exit status 1 when any request failed.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if cfg.MaxErrors < 1 {
		cfg.MaxErrors = 1
	}
	if *ceiling {
		srv, err := listenCeiling("127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(s.stderr, "aspstate bench: ceiling: %v\n", err)
			return exitFail
		}
		defer srv.Close()
		cfg.Server = srv.Addr()
		if cfg.Scenario != "read" {
			fmt.Fprintln(s.stderr, "aspstate bench: the ceiling answers everything with the same 200 and no LockCookie; only --scenario read is meaningful")
			return exitUsage
		}
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(s.stderr, "aspstate bench: %v\n", err)
		return exitUsage
	}
	res, err := bench(ctx, cfg, s.stderr)
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate bench: %v\n", err)
		return exitFail
	}
	if *asJSON {
		out, _ := json.Marshal(res)
		fmt.Fprintf(s.stdout, "%s\n", out)
	} else {
		res.print(s.stdout)
	}
	if res.Errors > 0 {
		return exitFail
	}
	return exitOK
}
