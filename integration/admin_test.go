package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends/redisstore/redistest"
	"github.com/aspstate/aspstate/frontend/wire"
)

var adminRE = regexp.MustCompile(`admin listener"? addr=(\S+)`)

// adminAddr is the address the gateway's admin listener reports.
func (g *gateway) adminAddr() string {
	g.t.Helper()
	m := adminRE.FindStringSubmatch(g.Logs())
	if m == nil {
		g.t.Fatalf("no admin listener in the log:\n%s", g.Logs())
	}
	return m[1]
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue is the value of the sample written exactly as name, or -1.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return -1
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
	}
}

// The binary on Redis, with the password in a file: metrics move with
// traffic, /readyz follows Redis down and back, and the password appears
// nowhere an operator or a scraper can see.
func TestAdminListenerOnRedis(t *testing.T) {
	const password = "integration-redis-secret"
	r := redistest.Start(t, "--requirepass", password)
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	args := []string{"--backend.type", "redis", "--backend.redis.addrs", r.Addr(), "--backend.redis.password_file", pwFile,
		"--backend.redis.dial_timeout", "200ms", "--backend.redis.read_timeout", "200ms", "--backend.redis.op_timeout", "500ms",
		"--admin.listen", "127.0.0.1:0", "--admin.pprof"}

	out, err := exec.Command(binPath, append(args, "--print-config")...).CombinedOutput()
	if err != nil || strings.Contains(string(out), password) {
		t.Fatalf("--print-config: %v, or the password printed:\n%s", err, out)
	}

	g := startGateway(t, args...)
	base := "http://" + g.adminAddr()
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	_, before := httpGet(t, base+"/metrics")
	c := dial(t, g.Addr)
	sid := "adminmetricssession000001"
	if resp := c.do(&wire.ClientRequest{Method: wire.MethodPut, Target: target(sid), Timeout: num(20), Body: b7}); resp.Status != 200 {
		t.Fatalf("put: %d", resp.Status)
	}
	for i := 0; i < 3; i++ {
		if resp := c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: target(sid)}); resp.Status != 200 {
			t.Fatalf("get: %d", resp.Status)
		}
	}
	const gets = `aspstate_requests_total{op="get",status="200"}`
	var after string
	waitUntil(t, "get counter moves by 3", 5*time.Second, func() bool {
		_, after = httpGet(t, base+"/metrics")
		return metricValue(after, gets)-metricValue(before, gets) == 3
	})
	for _, name := range []string{`aspstate_requests_total{op="set",status="200"}`, `aspstate_request_duration_seconds_count{op="get"}`} {
		if metricValue(after, name) < 1 {
			t.Errorf("%s did not move:\n%s", name, after)
		}
	}
	if v := metricValue(after, "aspstate_connections_open"); v != 1 {
		t.Errorf("connections open %v, want 1", v)
	}

	r.Stop()
	waitUntil(t, "/readyz fails with Redis down", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 503 })
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d with Redis down", code)
	}
	r.Restart()
	waitUntil(t, "/readyz recovers", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })

	_, metrics := httpGet(t, base+"/metrics")
	_, cmdline := httpGet(t, base+"/debug/pprof/cmdline")
	for what, text := range map[string]string{"/metrics": metrics, "/debug/pprof/cmdline": cmdline, "the log": g.Logs()} {
		if strings.Contains(text, password) {
			t.Errorf("the Redis password appears in %s", what)
		}
		if strings.Contains(text, sid) {
			t.Errorf("the session ID appears in %s", what)
		}
	}
}

// SIGHUP does not stop the server: an in-memory session survives it, and a
// changed log level is applied.
func TestSIGHUPKeepsTheServerAndItsSessions(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aspstated.yaml")
	os.WriteFile(cfg, []byte("log:\n  level: info\n"), 0o644)
	g := startGateway(t, "--config", cfg)
	c := dial(t, g.Addr)
	sid := "sighupsession000000000001"
	if resp := c.do(&wire.ClientRequest{Method: wire.MethodPut, Target: target(sid), Timeout: num(20), Body: b7}); resp.Status != 200 {
		t.Fatalf("put: %d", resp.Status)
	}
	os.WriteFile(cfg, []byte("log:\n  level: warn\n"), 0o644)
	for i := 0; i < 2; i++ {
		g.cmd.Process.Signal(syscall.SIGHUP)
	}
	waitUntil(t, "the reload", 5*time.Second, func() bool { return strings.Count(g.Logs(), "configuration applied") >= 1 })
	select {
	case <-g.done:
		t.Fatalf("SIGHUP stopped the server: %v\n%s", g.err, g.Logs())
	case <-time.After(200 * time.Millisecond):
	}
	c2 := dial(t, g.Addr)
	if resp := c2.do(&wire.ClientRequest{Method: wire.MethodGet, Target: target(sid)}); resp.Status != 200 {
		t.Fatalf("the session did not survive SIGHUP: %d", resp.Status)
	}
	if code := g.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(g.Logs(), "shutting down: no new connections") {
		t.Error("log.level warn was not applied: info lines after the reload") // logged at info on SIGTERM
	}
}

func TestVersionFlagOfTheBinary(t *testing.T) {
	out, err := exec.Command(binPath, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aspstated ") {
		t.Fatalf("%v %q", err, out)
	}
}

// With peering: the admin listener reports serving, links and forwards,
// /peers answers, and a killed member's link shows down.
func TestAdminListenerWithPeering(t *testing.T) {
	f := startPeerFarm(t, "memory")
	for s := range 6 {
		u := target("adminpeer" + strconv.Itoa(s) + "xxxxxxxxxxxxxxx")
		for i := range 3 {
			dial(t, f.gws[i].Addr).do(&wire.ClientRequest{Method: wire.MethodGet, Target: u})
		}
	}
	forwards := 0.0
	for i := range f.gws {
		base := "http://" + f.admin[i]
		if code, body := httpGet(t, base+"/readyz"); code != 200 {
			t.Fatalf("gw%d /readyz: %d %s", i+1, code, body)
		}
		if code, body := httpGet(t, base+"/peers"); code != 200 || !strings.Contains(body, `"serving":true`) {
			t.Fatalf("gw%d /peers: %d %s", i+1, code, body)
		}
		_, m := httpGet(t, base+"/metrics")
		if v := metricValue(m, "aspstate_peering_serving"); v != 1 {
			t.Errorf("gw%d serving %v", i+1, v)
		}
		for j, id := range f.ids {
			if j != i {
				if v := metricValue(m, `aspstate_peer_link_up{member="`+id+`"}`); v != 1 {
					t.Errorf("gw%d link to %s: %v", i+1, id, v)
				}
			}
		}
		forwards += metricValue(m, "aspstate_peering_forwards_total")
	}
	if forwards < 6 { // each session is owned by one gateway and asked at all three
		t.Errorf("forwards over the farm: %v, want at least 6", forwards)
	}
	f.gws[2].cmd.Process.Kill()
	<-f.gws[2].done
	waitUntil(t, "gw1 sees gw3's link down", 10*time.Second, func() bool {
		_, m := httpGet(t, "http://"+f.admin[0]+"/metrics")
		return metricValue(m, `aspstate_peer_link_up{member="gw3"}`) == 0
	})
}

// With peering, /readyz follows the lease: a gateway that loses contact with
// the majority (both others paused) becomes not ready within peering.lease,
// says why, and is ready again once they resume.
func TestReadyzFollowsThePeeringLease(t *testing.T) {
	f := startPeerFarm(t, "memory", "--peering.lease", "1s", "--peering.dead_after", "30s")
	base := "http://" + f.admin[0]
	waitUntil(t, "gw1 ready", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })
	for _, g := range f.gws[1:] {
		g.cmd.Process.Signal(syscall.SIGSTOP)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			for _, g := range f.gws[1:] {
				g.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(resume)
	paused := time.Now()
	waitUntil(t, "gw1 not ready without a majority", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 503 })
	t.Logf("gw1 not ready %v after the other two were paused (lease 1s)", time.Since(paused).Round(10*time.Millisecond))
	if _, body := httpGet(t, base+"/readyz"); !strings.Contains(body, "peering: not serving") {
		t.Errorf("/readyz body %q does not say why", body)
	}
	resume()
	waitUntil(t, "gw1 ready again", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })
}
