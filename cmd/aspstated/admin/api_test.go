package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/backends/recordcodec"
	"github.com/aspstate/aspstate/backends/redisstore"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering"
)

const testToken = "s3cret-operators-token-0123456789"

// clock is a test clock that stands still until moved.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tokenFile writes the token to a file and returns its path.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("  "+token+" \r\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// apiGateway is a gateway with its admin listener serving over TCP.
type apiGateway struct {
	*gateway
	base string // http://host:port
}

type apiOpts struct {
	clock    *clock
	waits    *locking.Waiters
	noToken  bool           // no admin.token_file
	sessions backends.Mover // instead of the store
	listen   string         // instead of 127.0.0.1:0
	mod      func(*Options)
}

func startAPI(t *testing.T, be backends.Backend, name string, ao apiOpts) *apiGateway {
	t.Helper()
	g := startFE(t, be, name, func(c *frontend.Config) {
		if ao.clock != nil {
			c.Now = ao.clock.Now
		}
		c.Waits = ao.waits
	}, func(o *Options) {
		if !ao.noToken {
			o.TokenFile = tokenFile(t, testToken)
		}
		o.Sessions = ao.sessions
		if o.Sessions == nil {
			o.Sessions, _ = be.(backends.Mover)
		}
		o.EffectiveConfig = map[string]any{"listen": "127.0.0.1:42424", "backend.type": name, "backend.redis.password": "***"}
		if ao.mod != nil {
			ao.mod(o)
		}
	})
	listen := ao.listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	addr, err := g.adm.Listen(listen)
	if err != nil {
		t.Fatal(err)
	}
	return &apiGateway{gateway: g, base: "http://" + addr.String()}
}

// call sends a request with the token (token "" for none) and returns the
// status and body.
func (g *apiGateway) call(method, path, token string, body io.Reader) (int, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, body)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// json calls with the token and decodes a 200's JSON into v.
func (g *apiGateway) json(method, path string, v any) {
	g.t.Helper()
	code, b := g.call(method, path, testToken, nil)
	if code != 200 {
		g.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		g.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

// wantStatus calls and checks the status, and that an error is JSON.
func (g *apiGateway) wantStatus(method, path, token string, want int) []byte {
	g.t.Helper()
	code, b := g.call(method, path, token, nil)
	if code != want {
		g.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if code >= 400 {
		var e apiError
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			g.t.Fatalf("%s %s: error body %q is not {\"error\": ...}", method, path, b)
		}
	}
	return b
}

func putT(key string, timeout int32, extra bool) *wire.ClientRequest {
	r := &wire.ClientRequest{Method: wire.MethodPut, Target: "/app/" + key, Timeout: num(timeout), Body: []byte("data of " + key)}
	if extra {
		r.ExtraFlags = num(1)
	}
	return r
}

func release(key string, cookie int32) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: "/app/" + key, Exclusive: wire.ExclusiveRelease, LockCookie: num(cookie)}
}

// The rule, for every case of docs/admin-api.md's table.
func TestAccessDecision(t *testing.T) {
	for _, c := range []struct {
		a                              access
		loopback, configured, sent, ok bool
		want                           int
	}{
		{overviewAccess, true, true, false, false, 0},
		{overviewAccess, true, false, false, false, 0},
		{overviewAccess, true, true, true, true, 0},
		{overviewAccess, true, true, true, false, 401}, // a wrong token is never ignored
		{overviewAccess, false, true, false, false, 401},
		{overviewAccess, false, true, true, true, 0},
		{overviewAccess, false, false, false, false, 403},
		{tokenAccess, true, true, false, false, 401},
		{tokenAccess, false, true, false, false, 401},
		{tokenAccess, true, true, true, false, 401},
		{tokenAccess, true, true, true, true, 0},
		{tokenAccess, false, true, true, true, 0},
		{tokenAccess, true, false, false, false, 403},
		{tokenAccess, true, false, true, false, 403},
	} {
		if got, _ := decide(c.a, c.loopback, c.configured, c.sent, c.ok); got != c.want {
			t.Errorf("%+v: %d, want %d", c, got, c.want)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:9424": true, "127.9.9.9:1": true, "[::1]:9424": true, "localhost:9424": true, "LOCALHOST:1": true,
		"[::ffff:127.0.0.1]:1": true,
		"0.0.0.0:9424":         false, ":9424": false, "[::]:9424": false, "10.1.2.3:9424": false, "192.168.1.1:1": false,
		"example.com:1": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// On a loopback listener: the overview is free, the session API needs the
// token (no token or a wrong one: 401), and without admin.token_file it
// answers 403 and says why. Metrics and health never need it.
func TestAccessOnLoopback(t *testing.T) {
	g := startAPI(t, newMem(t), "memory", apiOpts{})
	g.session(put("s1"))
	g.wantStatus("GET", "/api/overview", "", 200)
	g.wantStatus("GET", "/metrics", "", 200)
	g.wantStatus("GET", "/healthz", "", 200)
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/sessions"}, {"GET", "/api/session?id=/app/s1"}, {"GET", "/api/session/blob?id=/app/s1"},
		{"POST", "/api/session/unlock?id=/app/s1"}, {"POST", "/api/session/delete?id=/app/s1"},
		{"GET", "/api/export"}, {"POST", "/api/import"},
	} {
		body := g.wantStatus(p.method, p.path, "", 401)
		if strings.Contains(string(body), "s1") {
			t.Errorf("%s %s: the refusal shows the session: %s", p.method, p.path, body)
		}
		g.wantStatus(p.method, p.path, "wrong-"+testToken, 401)
	}
	g.wantStatus("GET", "/api/sessions", testToken, 200)
	g.wantStatus("GET", "/api/overview", "wrong", 401)
	g.wantStatus("GET", "/api/nothing-here", testToken, 404)
	g.wantStatus("GET", "/", "", 200) // the page (page_test.go)

	n := startAPI(t, newMem(t), "memory", apiOpts{noToken: true})
	body := n.wantStatus("GET", "/api/sessions", "", 403)
	if !strings.Contains(string(body), "admin.token_file is not set") {
		t.Errorf("403 body %s does not name admin.token_file", body)
	}
	n.wantStatus("GET", "/api/sessions", testToken, 403)
	n.wantStatus("GET", "/api/overview", "", 200)
}

// nonLoopbackIP returns an address of this machine that is not loopback,
// or "".
func nonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}

// On a listener that is not loopback the overview and /peers need the
// token too; POST /peers/down always does.
func TestAccessOnOtherListenerAndPeers(t *testing.T) {
	ip := nonLoopbackIP()
	if ip == "" {
		// No other address here: a wildcard listener is not loopback either,
		// and the test reaches it through 127.0.0.1.
		ip = "0.0.0.0"
	}
	mem := newMem(t)
	node, err := peering.New(peering.Config{Self: "gw1", Members: []string{"gw1=127.0.0.1:1001", "gw2=127.0.0.1:1002"},
		TLS: peering.TLSFiles{CAFile: "-", CertFile: "-", KeyFile: "-"}, Logger: slog0()}, mem)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	other := startAPI(t, mem, "memory", apiOpts{listen: net.JoinHostPort(ip, "0"), mod: func(o *Options) { o.Node = node }})
	other.wantStatus("GET", "/api/overview", "", 401)
	other.wantStatus("GET", "/peers", "", 401)
	other.wantStatus("GET", "/metrics", "", 200)
	other.wantStatus("GET", "/api/overview", testToken, 200)
	other.wantStatus("GET", "/peers", testToken, 200)
	other.wantStatus("POST", "/peers/down?member=gw2", "", 401)

	loop := startAPI(t, mem, "memory", apiOpts{mod: func(o *Options) { o.Node = node }})
	loop.wantStatus("GET", "/peers", "", 200)
	loop.wantStatus("POST", "/peers/down?member=gw2", "", 401)
	if code, b := loop.call("POST", "/peers/down?member=nobody", testToken, nil); code != 400 {
		t.Fatalf("POST /peers/down of an unknown member with the token: %d %s", code, b)
	}
	// With peering on and a node that does not walk the farm, the session
	// API says it cannot rather than show this gateway's share.
	np := startAPI(t, mem, "memory", apiOpts{mod: func(o *Options) { o.Node = node; o.Sessions = nil }})
	if _, ok := any(node).(backends.Mover); !ok {
		np.wantStatus("GET", "/api/sessions", testToken, 503)
	}
}

// One session's record and blob; reading them slides nothing and clears
// nothing.
func TestSessionAndBlob(t *testing.T) {
	clk := newClock()
	be, err := memstore.New(memstore.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := startAPI(t, be, "memory", apiOpts{clock: clk})
	g.session(putT("fresh", 20, true), putT("locked", 20, false), lock("locked"))
	clk.Advance(5 * time.Minute)
	for range 2 {
		var e sessionEntry
		g.json("GET", "/api/session?id=/app/fresh", &e)
		if e.ID != "/app/fresh" || !e.Uninitialized || e.Locked || e.Size != len("data of fresh") || e.Timeout != 20 ||
			e.ExpiresIn != 15*60 || e.Cookie != 1 || e.LockDate != nil || e.KeyHash != frontend.KeyHash("/app/fresh") {
			t.Fatalf("session: %+v", e)
		}
	}
	var e sessionEntry
	g.json("GET", "/api/session?id=/app/locked", &e)
	if !e.Locked || e.Cookie != 2 || e.LockAge == nil || *e.LockAge != 300 || e.LockDate == nil || !e.LockDate.Equal(clk.Now().Add(-5*time.Minute)) {
		t.Fatalf("locked session: %+v", e)
	}
	code, blob := g.call("GET", "/api/session/blob?id=/app/locked", testToken, nil)
	if code != 200 || string(blob) != "data of locked" {
		t.Fatalf("blob: %d %q", code, blob)
	}
	g.wantStatus("GET", "/api/session?id=/app/absent", testToken, 404)
	g.wantStatus("GET", "/api/session/blob?id=/app/absent", testToken, 404)
	g.wantStatus("GET", "/api/session", testToken, 400)
	// The uninitialized flag is still pending: the first read reports it.
	if r := g.responses(get("fresh")); r[0].Status != 200 || r[0].ActionFlags.Value != 1 {
		t.Fatalf("first read after inspection: %+v, want ActionFlags 1", r[0])
	}
	// Neither did inspection slide the expiry: 15 minutes are left.
	clk.Advance(15*time.Minute + time.Second)
	g.wantStatus("GET", "/api/session?id=/app/locked", testToken, 404)
}

// Listing: filters, order, paging, total.
func TestListSessions(t *testing.T) {
	clk := newClock()
	be, err := memstore.New(memstore.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := startAPI(t, be, "memory", apiOpts{clock: clk})
	for i := range 30 {
		g.session(putT(fmt.Sprintf("s%02d", i), 60, false))
	}
	g.session(&wire.ClientRequest{Method: wire.MethodPut, Target: "/other/x", Timeout: num(60), Body: []byte("x")})
	// Lock s20, s05, s12 in that order, a minute apart.
	for _, k := range []string{"s20", "s05", "s12"} {
		g.session(lock(k))
		clk.Advance(time.Minute)
	}
	type list struct {
		Total    int            `json:"total"`
		Sessions []sessionEntry `json:"sessions"`
	}
	ids := func(l list) []string {
		var out []string
		for _, e := range l.Sessions {
			out = append(out, strings.TrimPrefix(e.ID, "/app/"))
		}
		return out
	}
	var l list
	g.json("GET", "/api/sessions", &l)
	if l.Total != 31 || len(l.Sessions) != 31 || l.Sessions[0].ID != "/app/s00" || l.Sessions[30].ID != "/other/x" {
		t.Fatalf("all: total %d, %v", l.Total, ids(l))
	}
	g.json("GET", "/api/sessions?prefix=/app/&limit=5&offset=10", &l)
	if got := strings.Join(ids(l), ","); l.Total != 30 || got != "s10,s11,s12,s13,s14" {
		t.Fatalf("page: total %d, %s", l.Total, got)
	}
	g.json("GET", "/api/sessions?prefix=/app/&limit=5&offset=28", &l)
	if got := strings.Join(ids(l), ","); got != "s28,s29" {
		t.Fatalf("last page: %s", got)
	}
	g.json("GET", "/api/sessions?prefix=/app/&offset=40", &l)
	if l.Total != 30 || len(l.Sessions) != 0 {
		t.Fatalf("past the end: %+v", l)
	}
	g.json("GET", "/api/sessions?locked=1", &l)
	if got := strings.Join(ids(l), ","); l.Total != 3 || got != "s20,s05,s12" {
		t.Fatalf("locked, oldest first: total %d, %s", l.Total, got)
	}
	if a := l.Sessions[0].LockAge; a == nil || *a != 180 {
		t.Fatalf("oldest lock age %v, want 180", a)
	}
	g.json("GET", "/api/sessions?older_than=2m", &l)
	if got := strings.Join(ids(l), ","); l.Total != 2 || got != "s20,s05" {
		t.Fatalf("older than 2m: total %d, %s", l.Total, got)
	}
	g.json("GET", "/api/sessions?locked=1&limit=1&offset=1", &l)
	if got := strings.Join(ids(l), ","); l.Total != 3 || got != "s05" {
		t.Fatalf("locked page: %s", got)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "offset=-1", "older_than=soon", "locked=maybe"} {
		g.wantStatus("GET", "/api/sessions?"+bad, testToken, 400)
	}
}

// Force-unlock wakes a request waiting for the lock, which then gets the
// next cookie; unlocking an unlocked session says so; both actions are
// logged by key hash, never by ID.
func TestForceUnlockWakesAWaiter(t *testing.T) {
	waits := locking.NewWaiters(locking.WaitConfig{Wait: 5 * time.Second, MaxWaiters: 10})
	g := startAPI(t, newMem(t), "memory", apiOpts{waits: waits})
	r := g.responses(put("stuck-session-id"), lock("stuck-session-id"))
	cookie := r[1].LockCookie.Value
	if r[1].Status != 200 || cookie != 2 {
		t.Fatalf("lock: %+v", r[1])
	}
	woken := make(chan wire.ClientResponse, 1)
	go func() {
		w := g.responses(lock("stuck-session-id"))
		woken <- w[0]
	}()
	eventually(t, "the second acquire waits", func() bool { return waits.Waiting() == 1 })

	var got struct {
		Unlocked bool  `json:"unlocked"`
		Cookie   int32 `json:"cookie"`
	}
	g.json("POST", "/api/session/unlock?id=/app/stuck-session-id&who=alice&why=request+died", &got)
	if !got.Unlocked || got.Cookie != cookie {
		t.Fatalf("unlock: %+v, want unlocked with cookie %d", got, cookie)
	}
	select {
	case w := <-woken:
		if w.Status != 200 || w.LockCookie.Value != cookie+1 {
			t.Fatalf("the waiting acquire got %d cookie %d, want 200 cookie %d", w.Status, w.LockCookie.Value, cookie+1)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the waiting acquire was not woken")
	}
	// The old cookie no longer releases anything; the new one does.
	if r := g.responses(release("stuck-session-id", cookie)); r[0].Status != 423 {
		t.Fatalf("release with the old cookie: %d", r[0].Status)
	}
	g.session(release("stuck-session-id", cookie+1))
	g.json("POST", "/api/session/unlock?id=/app/stuck-session-id", &got)
	if got.Unlocked {
		t.Fatal("unlock of an unlocked session reported unlocking")
	}
	g.wantStatus("POST", "/api/session/unlock?id=/app/absent", testToken, 404)
	g.wantStatus("GET", "/api/session/unlock?id=/app/stuck-session-id", testToken, 404) // POST only

	logs := g.logs.String()
	if !strings.Contains(logs, "operator force-unlocked a session") || !strings.Contains(logs, "key_hash="+frontend.KeyHash("/app/stuck-session-id")) ||
		!strings.Contains(logs, "who=alice") || !strings.Contains(logs, `why="request died"`) || !strings.Contains(logs, "remote=127.0.0.1:") ||
		!strings.Contains(logs, "level=WARN") {
		t.Fatalf("the force-unlock is not logged as it should be:\n%s", logs)
	}
	if strings.Contains(logs, "stuck-session-id") {
		t.Fatalf("the session ID is in the log:\n%s", logs)
	}
}

// stale is a Mover whose Peek reports a lock with an older cookie: the lock
// changed between the API's read and its release.
type stale struct{ backends.Mover }

func (s stale) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	rec, exp, err := s.Mover.Peek(ctx, key)
	if err == nil && rec.Locked {
		rec.LockCookie--
	}
	return rec, exp, err
}

func TestUnlockAndDeleteAnswer409WhenTheLockChanged(t *testing.T) {
	be := newMem(t)
	g := startAPI(t, be, "memory", apiOpts{sessions: stale{be}})
	g.session(put("k"), lock("k"), lock("k"))
	g.wantStatus("POST", "/api/session/unlock?id=/app/k", testToken, 409)
	g.wantStatus("POST", "/api/session/delete?id=/app/k", testToken, 409)
	if r := g.responses(get("k")); r[0].Status != 423 {
		t.Fatalf("the session after two refused actions: %d, want still locked", r[0].Status)
	}
}

// releasedMeanwhile is a Mover whose Peek still sees the lock its holder
// has since released: the race between the API's read and its release.
type releasedMeanwhile struct{ backends.Mover }

func (s releasedMeanwhile) Peek(ctx context.Context, key string) (backends.Record, time.Time, error) {
	rec, exp, err := s.Mover.Peek(ctx, key)
	if err == nil && !rec.Locked {
		rec.Locked, rec.LockDate = true, time.Now()
	}
	return rec, exp, err
}

// A force-unlock whose lock was released by its holder after the API read
// it reports unlocked:false, and its release changes nothing (a plain
// release of the unlocked record would answer 200 and clear the
// uninitialized flag).
func TestForceUnlockOfALockReleasedMeanwhile(t *testing.T) {
	be := newMem(t)
	g := startAPI(t, be, "memory", apiOpts{sessions: releasedMeanwhile{be}})
	g.session(putT("k", 20, true), lock("k"))
	if r := g.responses(release("k", 2)); r[0].Status != 200 { // the holder's own release
		t.Fatalf("release: %+v", r[0])
	}
	var got map[string]any
	g.json("POST", "/api/session/unlock?id=/app/k", &got)
	if got["unlocked"] != false {
		t.Fatalf("unlock after the holder's release: %v, want unlocked:false", got)
	}
	if strings.Contains(g.logs.String(), "operator force-unlocked a session") {
		t.Fatalf("a force-unlock that freed nothing was logged as one:\n%s", g.logs.String())
	}
	rec, _, err := be.Peek(context.Background(), "/app/k")
	if err != nil || rec.Locked || rec.LockCookie != 2 {
		t.Fatalf("the record: %+v %v", rec, err)
	}
	// An uninitialized session keeps its flag.
	g.session(putT("u", 20, true))
	g.json("POST", "/api/session/unlock?id=/app/u", &got)
	if got["unlocked"] != false {
		t.Fatalf("unlock of an uninitialized session released meanwhile: %v", got)
	}
	if rec, _, err := be.Peek(context.Background(), "/app/u"); err != nil || !rec.Uninitialized || rec.Locked {
		t.Fatalf("the uninitialized record after the unlock: %+v %v, want the flag kept", rec, err)
	}
}

func TestDelete(t *testing.T) {
	g := startAPI(t, newMem(t), "memory", apiOpts{})
	g.session(put("plain"), put("held"), lock("held"))
	for _, k := range []string{"plain", "held"} {
		var got struct {
			Deleted bool `json:"deleted"`
		}
		g.json("POST", "/api/session/delete?id=/app/"+k+"&who=bob&why=cleanup", &got)
		if !got.Deleted {
			t.Fatalf("delete %s: %+v", k, got)
		}
		if r := g.responses(get(k)); r[0].Status != 404 {
			t.Fatalf("%s after delete: %d", k, r[0].Status)
		}
	}
	g.wantStatus("POST", "/api/session/delete?id=/app/plain", testToken, 404)
	logs := g.logs.String()
	if strings.Count(logs, "operator deleted a session") != 2 || !strings.Contains(logs, "key_hash="+frontend.KeyHash("/app/held")) ||
		!strings.Contains(logs, "who=bob") || strings.Contains(logs, "/app/held") {
		t.Fatalf("deletes not logged by key hash:\n%s", logs)
	}
}

// exportFrom returns a gateway's export stream.
func (g *apiGateway) export() []byte {
	g.t.Helper()
	code, b := g.call("GET", "/api/export", testToken, nil)
	if code != 200 {
		g.t.Fatalf("export: %d %s", code, b)
	}
	return b
}

type importResult struct {
	Error    string `json:"error"`
	Imported int    `json:"imported"`
	Skipped  int    `json:"skipped"`
	Expired  int    `json:"expired"`
}

func (g *apiGateway) importStream(stream []byte, replace bool, want int) importResult {
	g.t.Helper()
	path := "/api/import?replace=0"
	if replace {
		path = "/api/import?replace=1"
	}
	code, b := g.call("POST", path, testToken, bytes.NewReader(stream))
	var r importResult
	if err := json.Unmarshal(b, &r); err != nil {
		g.t.Fatalf("import: %d %q: %v", code, b, err)
	}
	if code != want {
		g.t.Fatalf("import: %d %+v, want %d", code, r, want)
	}
	return r
}

// snapshot reads every record with its deadline through Peek-free walking.
func snapshot(t *testing.T, m backends.Mover) map[string]backends.Record {
	t.Helper()
	out := map[string]backends.Record{}
	err := m.Walk(context.Background(), func(key string, rec *backends.Record, expires time.Time) error {
		r := *rec
		r.Data = bytes.Clone(rec.Data)
		out[key] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRecord(a, b backends.Record) bool {
	return bytes.Equal(a.Data, b.Data) && a.Timeout == b.Timeout && a.Uninitialized == b.Uninitialized &&
		a.Locked == b.Locked && a.LockCookie == b.LockCookie && a.LockDate.Equal(b.LockDate)
}

// Export from a memory gateway, import into a bbolt one: every record with
// its lock, cookie, lock date, flag and remaining lifetime; the lock's
// cookie still releases it there. Importing again skips, or replaces when
// asked.
func TestExportImportMemoryToBbolt(t *testing.T) {
	clk := newClock()
	mem, err := memstore.New(memstore.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	bolt, err := boltstore.Open(boltstore.Config{Path: filepath.Join(t.TempDir(), "s.db"), Now: clk.Now, Logger: slog0()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	src := startAPI(t, mem, "memory", apiOpts{clock: clk})
	dst := startAPI(t, bolt, "bbolt", apiOpts{clock: clk})

	const n = 120
	for i := range n {
		k := fmt.Sprintf("sess%03d", i)
		src.session(putT(k, int32(5+i%30), i%7 == 0))
		if i%5 == 0 {
			src.session(lock(k))
		}
		clk.Advance(time.Second)
	}
	stream := src.export()
	r := dst.importStream(stream, false, 200)
	if r.Imported != n || r.Skipped != 0 || r.Expired != 0 {
		t.Fatalf("import: %+v", r)
	}
	want, got := snapshot(t, mem), snapshot(t, bolt)
	if len(got) != n || len(want) != n {
		t.Fatalf("%d sessions in bbolt, %d in memory, want %d", len(got), len(want), n)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || !sameRecord(g, w) {
			t.Fatalf("%s: bbolt has %+v, memory %+v", k, g, w)
		}
		_, we, _ := mem.Peek(context.Background(), k)
		_, ge, _ := bolt.Peek(context.Background(), k)
		if !ge.Equal(we) {
			t.Fatalf("%s: deadline %v in bbolt, %v in memory", k, ge, we)
		}
	}
	// A lock taken on the memory gateway is released on bbolt's with its cookie.
	if r := dst.responses(release("sess005", 2)); r[0].Status != 200 {
		t.Fatalf("release of an imported lock with its cookie: %d", r[0].Status)
	}
	if r := dst.responses(lock("sess005")); r[0].Status != 200 || r[0].LockCookie.Value != 3 {
		t.Fatalf("next lock: %d cookie %d, want 3", r[0].Status, r[0].LockCookie.Value)
	}

	// Again: everything is there already.
	dst.session(put("sess001")) // changed on the target
	r = dst.importStream(stream, false, 200)
	if r.Imported != 0 || r.Skipped != n {
		t.Fatalf("import again: %+v", r)
	}
	if rec, _, _ := bolt.Peek(context.Background(), "/app/sess001"); string(rec.Data) != "session data" {
		t.Fatalf("import without replace overwrote a session: %q", rec.Data)
	}
	r = dst.importStream(stream, true, 200)
	if r.Imported != n || r.Skipped != 0 {
		t.Fatalf("import with replace: %+v", r)
	}
	if rec, _, _ := bolt.Peek(context.Background(), "/app/sess001"); string(rec.Data) != "data of sess001" {
		t.Fatalf("import with replace kept %q", rec.Data)
	}

	// Time passes: an export leaves out what has expired; an import of a
	// record whose lifetime is over counts it as expired.
	clk.Advance(10 * time.Minute)
	var buf bytes.Buffer
	w := recordcodec.NewWriter(&buf)
	w.Write("/app/late", &backends.Record{Data: []byte("x"), Timeout: 20}, 0)
	w.Write("/app/gone", &backends.Record{Data: []byte("x"), Timeout: 20}, -time.Minute)
	w.Write("/app/live", &backends.Record{Data: []byte("x"), Timeout: 20}, time.Minute)
	w.Flush()
	r = dst.importStream(buf.Bytes(), false, 200)
	if r.Imported != 1 || r.Expired != 2 {
		t.Fatalf("import of expired records: %+v", r)
	}
	sessions := 0
	rd := recordcodec.NewReader(bytes.NewReader(src.export()))
	for {
		_, _, rem, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rem <= 0 {
			t.Fatalf("exported a record with %v left", rem)
		}
		sessions++
	}
	if want := len(snapshot(t, mem)); sessions != want || sessions >= n {
		t.Fatalf("export after 10 minutes has %d sessions, want the %d live ones (fewer than %d)", sessions, want, n)
	}
}

// A damaged stream stops the import with 400 and says how many went in.
func TestImportDamagedStream(t *testing.T) {
	g := startAPI(t, newMem(t), "memory", apiOpts{})
	var buf bytes.Buffer
	w := recordcodec.NewWriter(&buf)
	for i := range 3 {
		w.Write(fmt.Sprintf("/app/k%d", i), &backends.Record{Data: []byte("v"), Timeout: 20, LockCookie: 1}, time.Minute)
	}
	w.Flush()
	good := buf.Bytes()
	r := g.importStream(append(bytes.Clone(good), 9, 9, 9), false, 400) // a record of an unknown version
	if r.Imported != 3 || !strings.Contains(r.Error, "after 3 records") {
		t.Fatalf("damaged: %+v", r)
	}
	r = g.importStream(good[:len(good)-2], true, 400) // cut inside the last record
	if r.Imported != 2 || !strings.Contains(r.Error, "unexpected EOF") {
		t.Fatalf("cut: %+v", r)
	}
	r = g.importStream([]byte("not a stream at all"), false, 400)
	if r.Imported != 0 {
		t.Fatalf("garbage: %+v", r)
	}
	g.wantStatus("POST", "/api/import?replace=perhaps", testToken, 400)
}

// failing is a Mover whose store cannot answer.
type failing struct{ backends.Mover }

var errDown = errors.New("store down for the test")

func (failing) Walk(context.Context, func(string, *backends.Record, time.Time) error) error {
	return errDown
}
func (failing) Peek(context.Context, string) (backends.Record, time.Time, error) {
	return backends.Record{}, time.Time{}, errDown
}
func (failing) Install(context.Context, string, backends.Record, time.Time, bool) (bool, error) {
	return false, errDown
}

// A store that cannot answer is a 502, never a 404.
func TestStoreFailureIs502(t *testing.T) {
	be := newMem(t)
	g := startAPI(t, be, "memory", apiOpts{sessions: failing{be}})
	g.session(put("k"))
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/sessions"}, {"GET", "/api/session?id=/app/k"}, {"GET", "/api/session/blob?id=/app/k"},
		{"GET", "/api/session?id=/app/absent"}, {"POST", "/api/session/unlock?id=/app/k"},
		{"POST", "/api/session/delete?id=/app/k"}, {"GET", "/api/export"},
	} {
		b := g.wantStatus(p.method, p.path, testToken, 502)
		if !strings.Contains(string(b), errDown.Error()) {
			t.Errorf("%s %s: %s", p.method, p.path, b)
		}
	}
	var buf bytes.Buffer
	w := recordcodec.NewWriter(&buf)
	w.Write("/app/x", &backends.Record{Data: []byte("v"), Timeout: 20}, time.Minute)
	w.Flush()
	g.importStream(buf.Bytes(), false, 502)

	// A closed store is not serving: 503.
	c := startAPI(t, be, "memory", apiOpts{})
	be.Close()
	c.wantStatus("GET", "/api/session?id=/app/k", testToken, 503)
	// And neither is a gateway shutting down.
	g.adm.SetNotReady("shutting down")
	g.wantStatus("GET", "/api/sessions", testToken, 503)
}

// The overview: counts, requests by operation, the oldest locks by key
// hash (never an ID), the configuration as given.
func TestOverview(t *testing.T) {
	clk := newClock()
	be, err := memstore.New(memstore.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	g := startAPI(t, be, "memory", apiOpts{clock: clk})
	g.session(put("overview-one"), put("overview-two"), lock("overview-two"), get("overview-one"), get("overview-none"))
	clk.Advance(42 * time.Second)
	code, b := g.call("GET", "/api/overview", "", nil)
	if code != 200 {
		t.Fatalf("overview: %d %s", code, b)
	}
	if strings.Contains(string(b), "overview-") {
		t.Fatalf("the overview shows a session ID: %s", b)
	}
	var o overviewDoc
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.Backend != "memory" || !o.BackendReady || o.Sessions == nil || *o.Sessions != 2 || *o.Locked != 1 || *o.Bytes <= 0 {
		t.Fatalf("overview: %s", b)
	}
	if len(o.Locks) != 1 || o.Locks[0].KeyHash != frontend.KeyHash("/app/overview-two") || o.Locks[0].LockAge != 42 {
		t.Fatalf("locks: %+v", o.Locks)
	}
	if r := o.Requests["get"]; r.Total != 2 || r.P50ms == nil || *r.P50ms <= 0 {
		t.Fatalf("requests: %s", b)
	}
	if r := o.Requests["set"]; r.Total != 2 {
		t.Fatalf("requests: %s", b)
	}
	if o.Config["backend.redis.password"] != "***" || o.Peering != nil {
		t.Fatalf("config or peering: %s", b)
	}
	// A second overview a second later has a rate.
	time.Sleep(minRateInterval)
	g.session(get("overview-one"))
	g.json("GET", "/api/overview", &o)
	if r := o.Requests["get"]; r.Total != 3 || r.PerSecond <= 0 {
		t.Fatalf("second overview's get: %+v", r)
	}
}

// On Redis: the whole API works on a shared store (SCAN pages), and an
// export from memory imports into it whole.
func TestAPIOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	rs, err := redisstore.Open(redisstore.Config{Addrs: []string{srv.Addr()}, KeyPrefix: "admintest:", Logger: slog0()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	mem := newMem(t)
	src := startAPI(t, mem, "memory", apiOpts{})
	dst := startAPI(t, rs, "redis", apiOpts{})
	const n = 450 // several SCAN pages
	for i := range n {
		k := fmt.Sprintf("r%03d", i)
		src.session(putT(k, 20, i%9 == 0))
		if i%4 == 0 {
			src.session(lock(k))
		}
	}
	r := dst.importStream(src.export(), false, 200)
	if r.Imported != n {
		t.Fatalf("import into Redis: %+v", r)
	}
	want, got := snapshot(t, mem), snapshot(t, rs)
	if len(got) != n {
		t.Fatalf("%d sessions in Redis, want %d", len(got), n)
	}
	for k, w := range want {
		if !sameRecord(got[k], w) {
			t.Fatalf("%s: Redis has %+v, memory %+v", k, got[k], w)
		}
	}
	var l struct {
		Total    int            `json:"total"`
		Sessions []sessionEntry `json:"sessions"`
	}
	dst.json("GET", "/api/sessions?locked=1&limit=10", &l)
	if l.Total != (n+3)/4 || len(l.Sessions) != 10 || !l.Sessions[0].Locked {
		t.Fatalf("locked on Redis: total %d, %d listed", l.Total, len(l.Sessions))
	}
	var u struct {
		Unlocked bool  `json:"unlocked"`
		Cookie   int32 `json:"cookie"`
	}
	dst.json("POST", "/api/session/unlock?id=/app/r000", &u)
	if !u.Unlocked || u.Cookie != 2 {
		t.Fatalf("unlock on Redis: %+v", u)
	}
	if rr := dst.responses(lock("r000")); rr[0].Status != 200 || rr[0].LockCookie.Value != 3 {
		t.Fatalf("lock after force-unlock on Redis: %d cookie %d", rr[0].Status, rr[0].LockCookie.Value)
	}
	var o struct {
		Sessions *int64 `json:"sessions"`
	}
	dst.json("GET", "/api/overview", &o)
	if o.Sessions == nil || *o.Sessions != n {
		t.Fatalf("overview on Redis: sessions %v, want %d", o.Sessions, n)
	}
	// The metrics do not walk a shared Redis.
	if v := dst.metric("aspstate_locks_held"); v != -1 {
		t.Fatalf("aspstate_locks_held on Redis = %v, want absent", v)
	}
}

// An import with replace=1 that replaces a locked session with an unlocked
// record wakes the requests waiting here for its lock: the waiting acquire
// gets the imported record, at once rather than after its wait.
func TestImportReplacingALockWakesWaiters(t *testing.T) {
	waits := locking.NewWaiters(locking.WaitConfig{Wait: 5 * time.Second, MaxWaiters: 10})
	g := startAPI(t, newMem(t), "memory", apiOpts{waits: waits})
	if r := g.responses(put("held"), lock("held")); r[1].Status != 200 {
		t.Fatalf("lock: %+v", r[1])
	}
	woken := make(chan wire.ClientResponse, 1)
	start := time.Now()
	go func() { woken <- g.responses(lock("held"))[0] }()
	eventually(t, "the second acquire waits", func() bool { return waits.Waiting() == 1 })

	var buf bytes.Buffer
	w := recordcodec.NewWriter(&buf)
	if err := w.Write("/app/held", &backends.Record{Data: []byte("imported"), Timeout: 20, LockCookie: 5}, time.Hour); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if r := g.importStream(buf.Bytes(), true, 200); r.Imported != 1 {
		t.Fatalf("import: %+v", r)
	}
	select {
	case r := <-woken:
		if r.Status != 200 || string(r.Body) != "imported" || r.LockCookie.Value != 6 {
			t.Fatalf("the waiting acquire got %d %q cookie %d, want 200 with the imported record and cookie 6",
				r.Status, r.Body, r.LockCookie.Value)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("woken after %v: by its wait running out, not by the import", d)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the waiting acquire was not woken by the import")
	}
}
