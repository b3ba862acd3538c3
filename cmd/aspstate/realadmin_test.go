package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/cmd/aspstated/admin"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
)

// realGateway is a front end on a memory store with the gateway's own
// operators' listener (admin.New) on a loopback port and a token file.
type realGateway struct {
	addr, admin string
	logs        *syncBuffer
	st          *memstore.Store
	srv         *frontend.Server
}

func startRealGateway(t *testing.T) *realGateway {
	t.Helper()
	logs := new(syncBuffer)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := frontend.New(frontend.Config{Backend: st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	adm, err := admin.New(admin.Options{Frontend: srv, Backend: st, BackendName: "memory", Sessions: st, Logger: log,
		Config: admin.Config{TokenFile: tokenFile, StoreStatsInterval: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := adm.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		adm.Shutdown(context.Background())
		srv.Shutdown(context.Background())
		st.Close()
	})
	return &realGateway{addr: ln.Addr().String(), admin: a.String(), logs: logs, st: st, srv: srv}
}

func protocol(t *testing.T, addr string) func(*wire.ClientRequest) wire.ClientResponse {
	t.Helper()
	c, err := stateclient.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return func(r *wire.ClientRequest) wire.ClientResponse {
		t.Helper()
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// The session tools against the gateway's real operators' API: sessions
// made over the protocol are listed and inspected, a force-unlock frees a
// lock the way a release does (the next lock gets a higher cookie), delete
// removes a locked session, and export → import moves everything to a
// second gateway with its lock and cookie.
func TestSessionToolsAgainstTheGatewaysAPI(t *testing.T) {
	g := startRealGateway(t)
	do := protocol(t, g.addr)
	locked, plain, fresh := stateclient.Target("lockedsession0000000000a"), stateclient.Target("plainsession00000000000b"), stateclient.Target("freshsession00000000000c")
	do(stateclient.Put(locked, -1, []byte("hello")))
	lk := do(stateclient.Acquire(locked))
	do(stateclient.Put(plain, -1, []byte("plain")))
	do(stateclient.Insert(fresh))
	if lk.Status != 200 {
		t.Fatalf("acquire: %d", lk.Status)
	}
	t.Setenv("ASPSTATE_ADMIN", g.admin)
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)

	r := runTool(t, "", "sessions", "--locked")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != exitOK || len(lines) != 2 || !strings.Contains(lines[1], "lockedsession0000000000a") {
		t.Fatalf("sessions --locked: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runTool(t, "", "sessions", "--json")
	var doc struct {
		Total    int            `json:"total"`
		Sessions []sessionEntry `json:"sessions"`
	}
	if err := jsonUnmarshal(r.stdout, &doc); err != nil || doc.Total != 3 {
		t.Fatalf("sessions --json: %v %q", err, r.stdout)
	}
	var lockedID string
	for _, e := range doc.Sessions {
		if e.Locked {
			lockedID = e.ID
		}
	}
	r = runTool(t, "", "inspect", lockedID)
	for _, want := range []string{"size           5 bytes", "locked         yes", "cookie         " + itoa(lk.LockCookie.Value), "lock age", "uninitialized  no"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runTool(t, "", "inspect", "nosuchsession"); r.code != exitNotFound {
		t.Errorf("inspect absent: exit %d %q", r.code, r.stderr)
	}

	// Move everything to a second gateway while the lock is held.
	dump := runTool(t, "", "export")
	if dump.code != exitOK {
		t.Fatalf("export: %d %s", dump.code, dump.stderr)
	}
	g2 := startRealGateway(t)
	if r := runTool(t, dump.stdout, "import", "--admin", g2.admin); r.code != exitOK || !strings.Contains(r.stdout, "imported 3, skipped 0") {
		t.Fatalf("import: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	do2 := protocol(t, g2.addr)
	if resp := do2(stateclient.Get(locked)); resp.Status != 423 || resp.LockCookie.Value != lk.LockCookie.Value {
		t.Fatalf("imported lock: status %d cookie %v, want 423 with cookie %d", resp.Status, resp.LockCookie, lk.LockCookie.Value)
	}
	if resp := do2(stateclient.Release(locked, lk.LockCookie.Value)); resp.Status != 200 {
		t.Fatalf("release with the old cookie on the second gateway: %d", resp.Status)
	}
	if resp := do2(stateclient.Acquire(fresh)); resp.Status != 200 || resp.ActionFlags.Value != 1 {
		t.Fatalf("imported uninitialized session: status %d ActionFlags %v", resp.Status, resp.ActionFlags)
	}
	if r := runTool(t, dump.stdout, "import", "--admin", g2.admin); !strings.Contains(r.stdout, "imported 0, skipped 3") {
		t.Fatalf("second import: %q %q", r.stdout, r.stderr)
	}

	// Force-unlock on the first gateway.
	r = runTool(t, "", "unlock", "--force", lockedID, "--why", "request died")
	if r.code != exitOK || !strings.Contains(r.stdout, "unlocked") {
		t.Fatalf("unlock --force: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if resp := do(stateclient.Acquire(locked)); resp.Status != 200 || resp.LockCookie.Value <= lk.LockCookie.Value {
		t.Fatalf("lock after the force-unlock: status %d cookie %v, want a cookie above %d", resp.Status, resp.LockCookie, lk.LockCookie.Value)
	}
	if !strings.Contains(g.logs.String(), "request died") || !strings.Contains(g.logs.String(), defaultWho()) {
		t.Errorf("the gateway did not log who and why:\n%s", g.logs.String())
	}
	if r := runTool(t, "", "delete", lockedID, "--why", "cleanup"); r.code != exitOK {
		t.Fatalf("delete of a locked session: exit %d %q", r.code, r.stderr)
	}
	if resp := do(stateclient.Get(locked)); resp.Status != 404 {
		t.Fatalf("after delete: status %d", resp.Status)
	}
	if r := runTool(t, "", "delete", lockedID); r.code != exitNotFound {
		t.Errorf("delete again: exit %d", r.code)
	}
	// The protocol commands tell a 404 from success too.
	if r := runTool(t, "", "get", "--server", g.addr, "--key", "/LM/W3SVC/1/ROOT/Shop/none"); r.code != exitNotFound {
		t.Errorf("get of an absent session: exit %d", r.code)
	}

	t.Setenv("ASPSTATE_ADMIN_TOKEN", "wrong")
	if r := runTool(t, "", "sessions"); r.code != exitRefused {
		t.Errorf("wrong token: exit %d %q", r.code, r.stderr)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func itoa(v int32) string { return strconv.Itoa(int(v)) }
