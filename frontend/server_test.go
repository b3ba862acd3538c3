package frontend_test

// This file holds the test harness shared by the conformance rows
// (conformance_test.go) and the connection-level tests below it: an in-process
// Server on 127.0.0.1:0 backed by memstore, both driven by one
// backendtest.Clock, a small client that frames responses and compares them
// byte for byte, and the canonical response templates of docs/protocol.md §3.4.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/frontend/wire"
)

// ---------------------------------------------------------------------------
// Protocol constants of docs/protocol.md §8.1.

const (
	// V is the X-AspNet-Version the templates carry.
	V = "4.0.30319"
	// H is the Host header line of every table request.
	H = "Host: 127.0.0.1:42424\r\n"
	// B7 is an empty 20-minute session (docs/protocol.md §7).
	B7 = "\x14\x00\x00\x00\x00\x00\xff"
	// B26 is the session {"a": 5} (docs/protocol.md §7).
	B26 = "\x14\x00\x00\x00" + "\x01" + "\x00" + "\x01\x00\x00\x00" + "\xff\xff\xff\xff" +
		"\x01a" + "\x05\x00\x00\x00" + "\x02" + "\x05\x00\x00\x00" + "\xff"

	appID = "/LM/W3SVC/1/ROOT/Shop"
	// u1Printed is U1 exactly as docs/protocol.md §3.2 prints it.
	u1Printed = "%2fLM%2fW3SVC%2f1%2fROOT%2fShop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN%2fXWE%2f4khrD9U%3d)%2fkf51kjsndazux1l0vjlec5jw"

	// ioTimeout bounds every read and write a test does.
	ioTimeout = 5 * time.Second
)

var (
	// U1 and U2 are two request targets in .NET 4.x form.
	U1 = wire.ClientTarget(appID, "kf51kjsndazux1l0vjlec5jw")
	U2 = wire.ClientTarget(appID, "x2ab4lqz0yhv3jd1mc5n0oe3")

	// testStart is where every test clock starts. The nanoseconds check that
	// LockDate keeps 100 ns ticks (truncated), not whole seconds.
	testStart = time.Date(2024, 3, 5, 10, 20, 30, 123456789, time.UTC)
	// testZone is the server's Location: LockDate is local-time ticks, and a
	// half-hour offset makes a missing or wrong conversion visible.
	testZone = time.FixedZone("UTC+05:30", 5*3600+30*60)
	// testStartTicks is .NET DateTime(2024, 3, 5, 15, 50, 30).Ticks + 1234567,
	// i.e. testStart on the wall clock of testZone, computed independently of
	// package wire (Python: (datetime(2024,3,5,15,50,30)-datetime(1,1,1))).
	testStartTicks int64 = 638452506301234567
)

// rq builds a table request: "<method> <target> HTTP/1.1\r\nH<headers>\r\n<body>".
// headers is a run of complete "Name: value\r\n" lines.
func rq(method, target, headers, body string) string {
	return method + " " + target + " HTTP/1.1\r\n" + H + headers + "\r\n" + body
}

// ticksOf is LockDate by rule: the .NET ticks of the lock time on the wall
// clock of the server's configured Location.
func ticksOf(lockAt time.Time) int64 { return wire.TicksFromTime(lockAt.In(testZone)) }

// ---------------------------------------------------------------------------
// The canonical responses of docs/protocol.md §3.4, written out from its text.

const (
	t200   = "HTTP/1.1 200 OK\r\nX-AspNet-Version: " + V + "\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"
	t200af = "HTTP/1.1 200 OK\r\nX-AspNet-Version: " + V + "\r\nActionFlags: 1\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"
	t404   = "HTTP/1.1 404 Not Found\r\nX-AspNet-Version: " + V + "\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"
	t400   = "HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: " + V + "\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"
)

func actionFlags(af bool) string {
	if af {
		return "ActionFlags: 1\r\n"
	}
	return ""
}

// t200g is the 200 to a plain Get.
func t200g(timeout int, body string, af bool) string {
	return "HTTP/1.1 200 OK\r\nX-AspNet-Version: " + V + "\r\n" + actionFlags(af) +
		"Timeout: " + strconv.Itoa(timeout) + "\r\nCache-Control: private\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// t200x is the 200 to a GetExclusive.
func t200x(cookie, timeout int, body string, af bool) string {
	return "HTTP/1.1 200 OK\r\nX-AspNet-Version: " + V + "\r\n" + actionFlags(af) +
		"LockCookie: " + strconv.Itoa(cookie) + "\r\nTimeout: " + strconv.Itoa(timeout) +
		"\r\nCache-Control: private\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// t423 is the 423 for a lock with the given cookie, age (whole seconds) and
// LockDate ticks.
func t423(cookie int, age int64, ticks int64) string {
	return "HTTP/1.1 423 Locked\r\nX-AspNet-Version: " + V + "\r\nLockDate: " + strconv.FormatInt(ticks, 10) +
		"\r\nLockAge: " + strconv.FormatInt(age, 10) + "\r\nLockCookie: " + strconv.Itoa(cookie) +
		"\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"
}

// ---------------------------------------------------------------------------
// Harness.

type harnessConfig struct {
	cfg  frontend.Config
	wrap func(backends.Backend) backends.Backend
}

type option func(*harnessConfig)

// withConfig edits the frontend.Config before the server is built.
func withConfig(f func(*frontend.Config)) option {
	return func(hc *harnessConfig) { f(&hc.cfg) }
}

// withBackend wraps the memstore the server uses.
func withBackend(wrap func(backends.Backend) backends.Backend) option {
	return func(hc *harnessConfig) { hc.wrap = wrap }
}

type harness struct {
	t     testing.TB
	clock *backendtest.Clock
	store *memstore.Store
	srv   *frontend.Server
	addr  string

	serveErr     chan error
	shutdownOnce sync.Once
	shutdownErr  error
}

// newHarness starts a server on 127.0.0.1:0 over an empty memstore; the server
// and the store share one test clock. Everything is stopped at cleanup.
func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	clock := backendtest.NewClock(testStart)
	st, err := memstore.New(memstore.Config{Now: clock.Now})
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	hc := harnessConfig{cfg: frontend.Config{
		Backend:  st,
		Now:      clock.Now,
		Location: testZone,
		Logger:   slog.New(slog.DiscardHandler),
	}}
	for _, o := range opts {
		o(&hc)
	}
	if hc.wrap != nil {
		hc.cfg.Backend = hc.wrap(st)
	}
	srv, err := frontend.New(hc.cfg)
	if err != nil {
		st.Close()
		t.Fatalf("frontend.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatalf("listen: %v", err)
	}
	h := &harness{t: t, clock: clock, store: st, srv: srv, addr: ln.Addr().String(), serveErr: make(chan error, 1)}
	go func() { h.serveErr <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := h.shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		st.Close()
	})
	return h
}

// shutdown shuts the server down (once) and checks that Serve returned
// ErrServerClosed; both are bounded.
func (h *harness) shutdown() error {
	h.shutdownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.shutdownErr = h.srv.Shutdown(ctx)
		select {
		case err := <-h.serveErr:
			if !errors.Is(err, frontend.ErrServerClosed) {
				h.shutdownErr = errors.Join(h.shutdownErr, fmt.Errorf("Serve returned %v, want ErrServerClosed", err))
			}
		case <-time.After(ioTimeout):
			h.shutdownErr = errors.Join(h.shutdownErr, errors.New("Serve did not return after Shutdown"))
		}
	})
	return h.shutdownErr
}

// ---------------------------------------------------------------------------
// Client.

type client struct {
	t   testing.TB
	nc  *net.TCPConn
	buf []byte // received bytes not yet consumed by next
}

func (h *harness) dial() *client {
	h.t.Helper()
	nc, err := net.DialTimeout("tcp", h.addr, ioTimeout)
	if err != nil {
		h.t.Fatalf("dial %s: %v", h.addr, err)
	}
	h.t.Cleanup(func() { nc.Close() })
	return &client{t: h.t, nc: nc.(*net.TCPConn)}
}

// send writes s in one write.
func (c *client) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", abbrev(s), err)
	}
}

// next returns the next whole response, framed by its Content-Length. It
// fails the test if none arrives within ioTimeout or the bytes are not a
// response.
func (c *client) next() string {
	c.t.Helper()
	deadline := time.Now().Add(ioTimeout)
	var r wire.ClientResponse
	for {
		n, err := wire.ParseResponse(c.buf, &r)
		if err == nil {
			s := string(c.buf[:n])
			c.buf = c.buf[n:]
			return s
		}
		if !errors.Is(err, wire.ErrIncomplete) {
			c.t.Fatalf("not a response (%v); received %q", err, c.buf)
		}
		c.nc.SetReadDeadline(deadline)
		var b [64 << 10]byte
		m, rerr := c.nc.Read(b[:])
		c.buf = append(c.buf, b[:m]...)
		if rerr != nil && m == 0 {
			c.t.Fatalf("waiting for a response: %v; received so far %q", rerr, c.buf)
		}
	}
}

// expect reads one response per want and compares each byte for byte.
func (c *client) expect(want ...string) {
	c.t.Helper()
	c.expectTo("", want...)
}

func (c *client) expectTo(req string, want ...string) {
	c.t.Helper()
	for i, w := range want {
		what := fmt.Sprintf("response %d of %d", i+1, len(want))
		if req != "" {
			what += fmt.Sprintf(" to %q", abbrev(req))
		}
		checkBytes(c.t, what, c.next(), w)
	}
}

// do sends req in one write and expects the responses want.
func (c *client) do(req string, want ...string) {
	c.t.Helper()
	c.send(req)
	c.expectTo(req, want...)
}

// readToEOF returns whatever arrives (after bytes already buffered) until
// the server closes the connection. It fails the test if the connection is
// still open after ioTimeout. A reset counts as closed.
func (c *client) readToEOF() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	var b [64 << 10]byte
	for {
		n, err := c.nc.Read(b[:])
		c.buf = append(c.buf, b[:n]...)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			s := string(c.buf)
			c.buf = nil
			return s
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("connection still open after %v; received %q", ioTimeout, c.buf)
		}
		c.t.Fatalf("read: %v; received %q", err, c.buf)
	}
}

// finish half-closes the connection and checks the server then closes it
// without sending anything more: no response was left unread.
func (c *client) finish() {
	c.t.Helper()
	if err := c.nc.CloseWrite(); err != nil {
		c.t.Fatalf("CloseWrite: %v", err)
	}
	if rest := c.readToEOF(); rest != "" {
		c.t.Errorf("unexpected bytes after the last expected response: %q", rest)
	}
	c.nc.Close()
}

// checkBytes compares a response with its template and prints both, quoted,
// with a line-by-line diff when they differ.
func checkBytes(t testing.TB, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	t.Errorf("%s differs\nwant %q\ngot  %q\n%s", what, want, got, lineDiff(want, got))
}

// lineDiff compares CRLF-separated lines at the same positions.
func lineDiff(want, got string) string {
	wl, gl := strings.SplitAfter(want, "\r\n"), strings.SplitAfter(got, "\r\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w == g {
			fmt.Fprintf(&b, "   %q\n", w)
			continue
		}
		if i < len(wl) {
			fmt.Fprintf(&b, " - %q\n", w)
		}
		if i < len(gl) {
			fmt.Fprintf(&b, " + %q\n", g)
		}
	}
	return b.String()
}

func abbrev(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// ---------------------------------------------------------------------------
// Fault injection.

var errInjected = errors.New("faultstore: injected failure")

// faultStore wraps a backend: Apply on failKey fails, on fullKey reports
// ErrFull, and on gateKey first signals entered and then waits for gate.
type faultStore struct {
	backends.Backend
	failKey, fullKey, gateKey string
	entered                   chan struct{} // one send per Apply on gateKey
	gate                      chan struct{} // closed to let gateKey through
}

func (f *faultStore) Apply(ctx context.Context, key string, fn backends.Transition) error {
	switch key {
	case "":
	case f.failKey:
		return errInjected
	case f.fullKey:
		return fmt.Errorf("faultstore: %w", backends.ErrFull)
	case f.gateKey:
		f.entered <- struct{}{}
		<-f.gate
	}
	return f.Backend.Apply(ctx, key, fn)
}

// ---------------------------------------------------------------------------
// Connection-level tests.

// splitScript is the request script of the split tests: a PUT with a body, a
// Get, a lock, a PUT that releases it, and a HEAD.
func splitScript() (script string, want []string) {
	script = rq("PUT", U1, "Timeout: 20\r\nLockCookie: 0\r\nContent-Length: 26\r\n", B26) +
		rq("GET", U1, "", "") +
		rq("GET", U1, "Exclusive: acquire\r\n", "") +
		rq("PUT", U1, "Timeout: 20\r\nLockCookie: 2\r\nContent-Length: 7\r\n", B7) +
		rq("HEAD", U1, "", "")
	return script, []string{t200, t200g(20, B26, false), t200x(2, 20, B26, false), t200, t200}
}

// TestSplitAtEveryPosition writes the script in two writes split at every byte
// position (with a pause between them, so the server reads them apart): the
// responses never change.
func TestSplitAtEveryPosition(t *testing.T) {
	script, want := splitScript()
	h := newHarness(t)
	c := h.dial()
	for i := 1; i < len(script); i++ {
		c.send(script[:i])
		time.Sleep(200 * time.Microsecond)
		c.send(script[i:])
		for k, w := range want {
			checkBytes(t, fmt.Sprintf("split at %d, response %d", i, k+1), c.next(), w)
		}
		// The script ends unlocked; removing the session makes the next
		// round's responses (cookie 2 again) identical.
		c.do(rq("DELETE", U1, "", ""), t200)
		if t.Failed() {
			t.Fatalf("stopping at split position %d", i)
		}
	}
	c.finish()
}

// TestOneBytePerWrite trickles the script in one byte per write.
func TestOneBytePerWrite(t *testing.T) {
	script, want := splitScript()
	h := newHarness(t)
	c := h.dial()
	for i := 0; i < len(script); i++ {
		c.send(script[i : i+1])
		time.Sleep(50 * time.Microsecond)
	}
	c.expect(want...)
	c.finish()
}

// TestSlowConnectionDoesNotStallOthers: while one connection holds half a
// request (in the head, or in the body of a PUT on the same key), another
// connection completes 100 requests on that key; then the slow requests
// complete and are answered.
func TestSlowConnectionDoesNotStallOthers(t *testing.T) {
	h := newHarness(t)
	put := rq("PUT", U1, "Timeout: 20\r\nContent-Length: 26\r\n", B26)
	headCut := strings.Index(put, "Content-Length") + 4
	bodyCut := len(put) - 10

	slowHead, slowBody := h.dial(), h.dial()
	slowHead.send(put[:headCut])
	slowBody.send(put[:bodyCut])

	fast := h.dial()
	for i := 0; i < 50; i++ {
		body := fmt.Sprintf("%07d", i)
		fast.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 7\r\n", body), t200)
		fast.do(rq("GET", U1, "", ""), t200g(20, body, false))
	}

	slowHead.send(put[headCut:])
	slowHead.expect(t200)
	slowBody.send(put[bodyCut:])
	slowBody.expect(t200)
	fast.do(rq("GET", U1, "", ""), t200g(20, B26, false))
	for _, c := range []*client{slowHead, slowBody, fast} {
		c.finish()
	}
}

// TestIdleTimeout: a connection that sends nothing for IdleTimeout is closed;
// one that keeps sending more often than that stays open.
func TestIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.IdleTimeout = idle }))

	busy := h.dial()
	quiet := h.dial()
	// Taken before the request is sent, so before the server can start its
	// idle clock (after writing the reply): it cannot close before start+idle.
	start := time.Now()
	quiet.do(rq("GET", U1, "", ""), t404)

	// Five requests 100 ms apart: 500 ms in all, never 200 ms idle.
	for i := 0; i < 5; i++ {
		busy.do(rq("HEAD", U1, "", ""), t404)
		time.Sleep(idle / 2)
	}
	busy.do(rq("GET", U1, "", ""), t404)

	if rest := quiet.readToEOF(); rest != "" {
		t.Errorf("idle connection sent %q before closing", rest)
	}
	if el := time.Since(start); el < idle {
		t.Errorf("idle connection closed after %v, before IdleTimeout %v", el, idle)
	}
	busy.finish()
}

// TestShutdown: Shutdown lets a request in flight (blocked in the backend)
// be answered, lets a connection that holds half a request finish it, closes
// idle connections, refuses new ones, and returns once all are done.
func TestShutdown(t *testing.T) {
	fs := &faultStore{gateKey: "gate", entered: make(chan struct{}, 1), gate: make(chan struct{})}
	h := newHarness(t, withBackend(func(b backends.Backend) backends.Backend { fs.Backend = b; return fs }))

	idle := h.dial()
	idle.do(rq("HEAD", U1, "", ""), t404)

	half := h.dial()
	put := rq("PUT", U1, "Timeout: 20\r\nContent-Length: 7\r\n", B7)
	half.send(put[:len(put)-3])

	inflight := h.dial()
	inflight.send(rq("GET", "gate", "", ""))
	select {
	case <-fs.entered:
	case <-time.After(ioTimeout):
		t.Fatal("the gated request never reached the backend")
	}
	time.Sleep(100 * time.Millisecond) // let the server read the half request

	done := make(chan error, 1)
	go func() { done <- h.shutdown() }()

	// Shutdown has begun once the listener refuses connections.
	for deadline := time.Now().Add(ioTimeout); ; {
		nc, err := net.DialTimeout("tcp", h.addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := idle.readToEOF(); got != "" {
		t.Errorf("idle connection got %q at shutdown", got)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request still in flight", err)
	default:
	}

	half.send(put[len(put)-3:])
	close(fs.gate)
	inflight.expect(t404)
	if rest := inflight.readToEOF(); rest != "" {
		t.Errorf("in-flight connection: unexpected %q after its answer", rest)
	}
	half.expect(t200)
	if rest := half.readToEOF(); rest != "" {
		t.Errorf("half-request connection: unexpected %q after its answer", rest)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return")
	}
}

// TestBackendFailureClosesConnection: when the store fails, the client sees
// the connection close, never a 404 or 200; requests before it are answered,
// none after it; other keys keep working on a new connection. ErrFull is the
// one refusal answered 400, and that connection stays usable.
func TestBackendFailureClosesConnection(t *testing.T) {
	fs := &faultStore{failKey: "/fail", fullKey: "/full"}
	h := newHarness(t, withBackend(func(b backends.Backend) backends.Backend { fs.Backend = b; return fs }))

	for _, failing := range []string{
		rq("GET", "%2ffail", "", ""),
		rq("GET", "%2ffail", "Exclusive: acquire\r\n", ""),
		rq("PUT", "%2ffail", "Timeout: 20\r\nContent-Length: 7\r\n", B7),
		rq("DELETE", "%2ffail", "", ""),
		rq("HEAD", "%2ffail", "", ""),
	} {
		c := h.dial()
		// Pipelined: the request before is answered, the one after is not.
		c.send(rq("GET", U1, "", "") + failing + rq("GET", U2, "", ""))
		got := c.readToEOF()
		checkBytes(t, fmt.Sprintf("all bytes before close for %q", abbrev(failing)), got, t404)
	}
	if n := h.srv.Stats().BackendErrors.Load(); n != 5 {
		t.Errorf("Stats().BackendErrors = %d, want 5", n)
	}

	c := h.dial()
	c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 7\r\n", B7), t200)
	c.do(rq("GET", U1, "", ""), t200g(20, B7, false))
	c.do(rq("PUT", "%2ffull", "Timeout: 20\r\nContent-Length: 7\r\n", B7), t400)
	c.do(rq("GET", U1, "Exclusive: acquire\r\n", ""), t200x(2, 20, B7, false))
	c.finish()
}

// TestBodyLimitBoundary: a body of exactly MaxBodyBytes is accepted; one byte
// more is refused from the head alone (the server does not wait for the body).
func TestBodyLimitBoundary(t *testing.T) {
	const limit = 1024
	h := newHarness(t, withConfig(func(c *frontend.Config) { c.Limits.MaxBodyBytes = limit }))
	body := strings.Repeat("s", limit)

	c := h.dial()
	c.do(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 1024\r\n", body), t200)
	c.do(rq("GET", U1, "", ""), t200g(20, body, false))
	c.finish()

	big := h.dial()
	big.send(rq("PUT", U2, "Timeout: 20\r\nContent-Length: 1025\r\n", ""))
	if got := big.readToEOF(); got != "" && got != t400 {
		t.Errorf("over the limit: got %q, want the connection closed (optionally after %q)", got, t400)
	}
	c = h.dial()
	c.do(rq("GET", U2, "", ""), t404)
	c.finish()
}

// TestTargetCheck pins U1 to the text of docs/protocol.md §3.2 and LockDate's rule
// to an independently computed tick count.
func TestTargetCheck(t *testing.T) {
	if U1 != u1Printed {
		t.Errorf("wire.ClientTarget(%q, ...) = %q, docs/protocol.md §3.2 prints %q", appID, U1, u1Printed)
	}
	if U1 == U2 {
		t.Error("U1 == U2")
	}
	if got := ticksOf(testStart); got != testStartTicks {
		t.Errorf("wire.TicksFromTime(testStart in %v) = %d, want %d", testZone, got, testStartTicks)
	}
	if !bytes.Equal([]byte(B26[:4]), []byte(B7[:4])) || len(B7) != 7 || len(B26) != 26 {
		t.Errorf("blobs: len(B7)=%d len(B26)=%d", len(B7), len(B26))
	}
}
