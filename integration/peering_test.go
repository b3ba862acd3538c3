package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/freeport"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/peering"
	"github.com/aspstate/aspstate/peering/pki"
)

// A peered farm of real aspstated processes: three gateways on loopback, each
// with its own store, mutual TLS between them with certificates made here.

type peerFarm struct {
	t       *testing.T
	dir     string
	ids     []string
	members string // the peering.members value
	peerAt  []string
	admin   []string // admin.listen of each gateway: /peers
	backend string
	extra   []string // more flags for every gateway
	gws     []*gateway
}

// freePort returns a loopback address nobody listens on right now and that
// no other gateway of this test binary was given.
func freePort(t *testing.T) string {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func startPeerFarm(t *testing.T, backend string, extra ...string) *peerFarm {
	f := &peerFarm{t: t, dir: t.TempDir(), ids: []string{"gw1", "gw2", "gw3"}, backend: backend, extra: extra}
	if err := pki.WriteFarm(f.dir, f.ids, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "admin-token"), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, id := range f.ids {
		addr := freePort(t)
		f.peerAt = append(f.peerAt, addr)
		f.admin = append(f.admin, freePort(t))
		list = append(list, id+"="+addr)
	}
	f.members = strings.Join(list, ",")
	f.gws = make([]*gateway, len(f.ids))
	for i := range f.ids {
		f.start(i)
	}
	f.waitLinked()
	return f
}

// waitLinked waits until every gateway has linked to every other one (the
// gateways start one after another, and a link retries with a backoff).
func (f *peerFarm) waitLinked() {
	deadline := time.Now().Add(20 * time.Second)
	for i, g := range f.gws {
		for j, id := range f.ids {
			for i != j && !linkedTo(g.Logs(), id) {
				if time.Now().After(deadline) {
					f.t.Fatalf("gw%d never linked to %s\n%s", i+1, id, g.Logs())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// linkedTo reports whether the last link event logged for peer id is "up".
func linkedTo(logs, id string) bool {
	up := strings.LastIndex(logs, `msg="peer link up" component=peering member=`+id)
	down := strings.LastIndex(logs, `msg="peer link down" component=peering member=`+id)
	return up > down
}

func (f *peerFarm) args(i int) []string {
	id := f.ids[i]
	args := []string{"--backend.type", f.backend,
		"--peering.self", id, "--peering.listen", f.peerAt[i], "--peering.members", f.members,
		"--peering.tls.ca_file", filepath.Join(f.dir, "ca.pem"),
		"--peering.tls.cert_file", filepath.Join(f.dir, id+".pem"),
		"--peering.tls.key_file", filepath.Join(f.dir, id+"-key.pem"),
		"--admin.listen", f.admin[i], "--admin.token_file", filepath.Join(f.dir, "admin-token")}
	switch f.backend {
	case "bbolt":
		args = append(args, "--backend.bbolt.path", filepath.Join(f.dir, id+".db"))
	case "badger":
		args = append(args, "--backend.badger.path", filepath.Join(f.dir, id+"-badger"))
	}
	args = append(args, f.extra...)
	if f.gws[i] != nil && f.gws[i].Addr != "" {
		args = append(args, "--listen", f.gws[i].Addr) // the same port again after a restart
	}
	return args
}

func (f *peerFarm) start(i int) { f.gws[i] = startGateway(f.t, f.args(i)...) }

// sessions creates n sessions through rotating gateways, each locked through
// another, and returns their targets with the cookies and owners.
type peerSession struct {
	target string
	cookie int32
	owner  int
	body   []byte
}

func (f *peerFarm) seed(n int) []peerSession {
	var out []peerSession
	for s := range n {
		sid := fmt.Sprintf("peer%04dxxxxxxxxxxxxxxxxxx", s)
		u := target(sid)
		body := []byte(fmt.Sprintf("session-%d", s))
		c := dial(f.t, f.gws[s%3].Addr)
		if r := c.do(stateclient.Put(u, 0, body)); r.Status != 200 {
			f.t.Fatalf("put %d: %d", s, r.Status)
		}
		l := dial(f.t, f.gws[(s+1)%3].Addr).do(stateclient.Acquire(u))
		if l.Status != 200 {
			f.t.Fatalf("lock %d: %d", s, l.Status)
		}
		owner := peering.OwnerAmong(wire.TargetKey(u), f.ids)
		oi := -1
		for j, id := range f.ids {
			if id == owner {
				oi = j
			}
		}
		out = append(out, peerSession{target: u, cookie: l.LockCookie.Value, owner: oi, body: body})
	}
	return out
}

// The new-session sequence of a web server through every gateway, for keys
// owned by each of them, answers as one gateway would.
func TestPeeringBinariesServeEverySessionEverywhere(t *testing.T) {
	f := startPeerFarm(t, "bbolt")
	for s := range 6 {
		u := target(fmt.Sprintf("seq%03dxxxxxxxxxxxxxxxxxxx", s))
		at := func(i int) *client { return dial(t, f.gws[(s+i)%3].Addr) }
		if r := at(0).do(stateclient.Acquire(u)); r.Status != 404 {
			t.Fatalf("acquire of a new session: %d", r.Status)
		}
		if r := at(1).do(&wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: num(20), ExtraFlags: num(1), LockCookie: num(0), Body: b7}); r.Status != 200 {
			t.Fatalf("uninitialized put: %d", r.Status)
		}
		r := at(2).do(stateclient.Acquire(u))
		if r.Status != 200 || r.LockCookie.Value != 2 || r.ActionFlags.Value != 1 {
			t.Fatalf("acquire: %d cookie %v flags %v", r.Status, r.LockCookie, r.ActionFlags)
		}
		if r := at(0).do(stateclient.Get(u)); r.Status != 423 || r.LockCookie.Value != 2 || r.LockDate == 0 {
			t.Fatalf("read of a locked session through a non-owner: %d %+v", r.Status, r)
		}
		if r := at(1).do(stateclient.Put(u, 2, []byte("state"))); r.Status != 200 {
			t.Fatalf("put with cookie: %d", r.Status)
		}
		if r := at(2).do(stateclient.Get(u)); r.Status != 200 || string(r.Body) != "state" {
			t.Fatalf("get: %d %q", r.Status, r.Body)
		}
	}
	checkSharedCores(t, f)
}

var sharedCoresRE = regexp.MustCompile(`members_here=(\d+) gomaxprocs=(\d+) of=(\d+)`)

// checkSharedCores: the three members listen on this host, so each gateway
// took its share of the processors (cmd/aspstated/cores.go) and said so,
// unless GOMAXPROCS is in the environment or there was nothing to share.
func checkSharedCores(t *testing.T, f *peerFarm) {
	for i, g := range f.gws {
		m := sharedCoresRE.FindStringSubmatch(g.Logs())
		switch {
		case m != nil && os.Getenv("GOMAXPROCS") != "":
			t.Errorf("gw%d changed GOMAXPROCS that the environment set: %s", i+1, m[0])
		case m != nil:
			var here, share, of int
			fmt.Sscan(m[1]+" "+m[2]+" "+m[3], &here, &share, &of)
			if here != 3 || share != max(1, of/3) || share >= of {
				t.Errorf("gw%d: %s, want members_here=3 and gomaxprocs max(1, of/3) below of", i+1, m[0])
			}
		case os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) >= 2:
			t.Errorf("gw%d did not take its share of %d processors with two other members here:\n%s", i+1, runtime.GOMAXPROCS(0), g.Logs())
		}
	}
}

// SIGTERM drains a gateway (a memory store, or a durable one with
// peering.drain_on_stop): its sessions, locks and cookies move to the others
// and it exits 0; started again, it rejoins and serves them all.
func TestPeeringBinariesDrainAndRejoin(t *testing.T) {
	for _, backend := range []string{"memory", "bbolt"} {
		t.Run(backend, func(t *testing.T) { testDrainAndRejoin(t, backend) })
	}
}

func testDrainAndRejoin(t *testing.T, backend string) {
	f := startPeerFarm(t, backend, "--peering.drain_on_stop=true")
	sessions := f.seed(60)
	if code := f.gws[1].stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("drain exit code %d\n%s", code, f.gws[1].Logs())
	}
	if !strings.Contains(f.gws[1].Logs(), "drain complete") {
		t.Fatalf("no drain in the log:\n%s", f.gws[1].Logs())
	}
	check := func(gws ...int) {
		for _, s := range sessions {
			for _, i := range gws {
				r := dial(t, f.gws[i].Addr).do(stateclient.Get(s.target))
				if r.Status != 423 || r.LockCookie.Value != s.cookie {
					t.Fatalf("session owned by gw%d via gw%d: %d cookie %v, want 423 with cookie %d", s.owner+1, i+1, r.Status, r.LockCookie, s.cookie)
				}
			}
		}
	}
	check(0, 2)
	f.start(1)
	f.waitLinked()
	check(0, 1, 2)
	for _, s := range sessions {
		if r := dial(t, f.gws[s.owner].Addr).do(stateclient.Put(s.target, s.cookie, s.body)); r.Status != 200 {
			t.Fatalf("put with the cookie from before the moves: %d", r.Status)
		}
	}
}

// SIGTERM of a gateway with a durable store announces a restart: it exits 0
// without moving anything, the others show it restarting and hold a request
// for its session until it is back, which then answers it from its store.
func TestPeeringBinariesRestartAnnounced(t *testing.T) {
	f := startPeerFarm(t, "bbolt", "--peering.restart_grace=9s", "--peering.dead_after=20s")
	sessions := f.seed(30)
	if code := f.gws[2].stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d\n%s", code, f.gws[2].Logs())
	}
	logs := f.gws[2].Logs()
	if !strings.Contains(logs, "restart announced") || strings.Contains(logs, "draining") {
		t.Fatalf("no restart announcement (or a drain) in the log:\n%s", logs)
	}
	if st := peersStatus(t, "GET", "http://"+f.admin[0]+"/peers"); st.Members[2].State != "restarting" || st.MovedIn != 0 {
		t.Fatalf("gw3 after its SIGTERM, seen by gw1: %+v (moved in %d)", st.Members[2], st.MovedIn)
	}
	var s peerSession
	for _, s = range sessions {
		if s.owner == 2 {
			break
		}
	}
	if s.owner != 2 {
		t.Fatal("no session of gw3")
	}
	type answer struct {
		r   wire.ClientResponse
		err error
	}
	held := make(chan answer, 1)
	go func() {
		c, err := stateclient.Dial(f.gws[0].Addr)
		if err != nil {
			held <- answer{err: err}
			return
		}
		defer c.Close()
		r, err := c.Do(stateclient.Get(s.target))
		held <- answer{r, err}
	}()
	time.Sleep(300 * time.Millisecond)
	f.start(2)
	a := <-held
	if a.err != nil || a.r.Status != 423 || a.r.LockCookie.Value != s.cookie {
		t.Fatalf("the request held during the restart: %d cookie %v %v, want 423 cookie %d\n%s",
			a.r.Status, a.r.LockCookie, a.err, s.cookie, f.gws[0].Logs())
	}
	if !strings.Contains(f.gws[2].Logs(), "back from a restart") {
		t.Fatalf("the restarted gateway did not say it is back:\n%s", f.gws[2].Logs())
	}
	st := peersStatus(t, "GET", "http://"+f.admin[0]+"/peers")
	if st.Members[2].State != "active" || st.MovedIn != 0 || st.MovedOut != 0 || st.HeldForRestart == 0 {
		t.Fatalf("gw1 after gw3 is back: %+v", st)
	}
}

// kill -9 of a gateway with a durable store: its sessions fail fast
// (connection closed, never 404 or 200) and no other's do; restarted, it
// serves them all again with their locks. Declared down by an operator, its
// range takes new sessions, and it then refuses to start on its old records.
func TestPeeringBinariesKilledOwner(t *testing.T) {
	f := startPeerFarm(t, "bbolt")
	sessions := f.seed(30)
	kill := func() {
		f.gws[2].cmd.Process.Signal(syscall.SIGKILL)
		<-f.gws[2].done
	}
	kill()
	failed := 0
	for _, s := range sessions {
		c := dial(t, f.gws[0].Addr)
		start := time.Now()
		r, err := c.try(stateclient.Get(s.target))
		switch {
		case s.owner == 2 && err == nil:
			t.Fatalf("a session of the killed gateway answered %d", r.Status)
		case s.owner == 2:
			failed++
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("failed after %v, want within peering.request_timeout", d)
			}
		case err != nil || r.Status != 423:
			t.Fatalf("a session of a live gateway: %d %v", r.Status, err)
		}
	}
	if failed == 0 {
		t.Fatal("no session was owned by the killed gateway; the test proved nothing")
	}
	st := peersStatus(t, "GET", "http://"+f.admin[0]+"/peers")
	if st.Members[2].LinkUp || st.Members[2].State != "active" {
		t.Fatalf("gw3 after the kill: %+v", st.Members[2])
	}

	// Back within the same store: nothing acknowledged was lost.
	f.start(2)
	f.waitLinked()
	for _, s := range sessions {
		r := dial(t, f.gws[0].Addr).do(stateclient.Get(s.target))
		if r.Status != 423 || r.LockCookie.Value != s.cookie {
			t.Fatalf("after the restart: %d cookie %v, want 423 with cookie %d", r.Status, r.LockCookie, s.cookie)
		}
	}

	// Killed again and declared down: its range takes new sessions.
	kill()
	st = peersStatus(t, "POST", "http://"+f.admin[1]+"/peers/down?member=gw3")
	if st.Members[2].State != "down" {
		t.Fatalf("gw3 after peers down: %+v", st.Members[2])
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range sessions {
		if s.owner != 2 {
			continue
		}
		for { // gw1 learns the view from gw2 (at once, or with its next message)
			r, err := dial(t, f.gws[0].Addr).try(stateclient.Get(s.target))
			if err == nil && r.Status == 404 {
				break
			}
			if err == nil || time.Now().After(deadline) {
				t.Fatalf("a session of the dead gateway after peers down: %v %v", r.Status, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r := dial(t, f.gws[0].Addr).do(stateclient.Put(s.target, 0, s.body)); r.Status != 200 {
			t.Fatalf("new session in the dead gateway's range: %d", r.Status)
		}
	}
	// Its old records must not come back: it refuses to start on them.
	g := launch(t, f.args(2)...)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("a gateway declared down started on its old records\n%s", g.Logs())
	}
	if code := g.cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(g.Logs(), "declared down") {
		t.Fatalf("exit %d; log:\n%s", code, g.Logs())
	}
}

// adminToken is the farm's admin.token_file: POST /peers/down needs it.
const adminToken = "integration-admin-token-0123456789"

func peersStatus(t *testing.T, method, url string) peering.Status {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st peering.Status
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
