//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/lockcheck"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/peering"
	"github.com/aspstate/aspstate/peering/pki"
)

// A lab of network namespaces made by one test, as root: a switch namespace
// holding a bridge, one namespace per gateway joined to it by a veth pair,
// and a veth from the test's own namespace (where the clients run) into the
// bridge. Addresses come from a /24 of 198.18.0.0/15 (RFC 2544's benchmark
// range) that no interface here uses; nothing is routed off the machine.
// Names carry the test process's PID and a random tag, so parallel runs do
// not collide and leftovers of a killed run can be recognised and removed.

const nsPrefix = "aspstate-"

// needNetns skips the test unless it runs as root with the ip command.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates network namespaces, veth pairs and iptables rules (run go test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (Debian package iproute2) to create network namespaces: " + err.Error())
	}
}

type netLab struct {
	t      *testing.T
	tag    string // nsPrefix + pid + "-" + random hex
	subnet string // "198.18.x." (a /24)
	hostIP string // the clients' address, in the test's own namespace
	sw     string // the switch namespace
	ns     []string
	ips    []string
}

// sh runs a command and fails the test with its output on error.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sweepStaleNamespaces removes namespaces left by earlier runs of these tests
// that were killed before their cleanup: their creator (the PID in the name)
// is gone and no process is left in them.
func sweepStaleNamespaces() {
	entries, _ := os.ReadDir("/run/netns")
	re := regexp.MustCompile(`^` + nsPrefix + `(\d+)-[0-9a-f]+-`)
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "pids", e.Name()).Output(); err != nil || len(bytes.TrimSpace(out)) != 0 {
			continue
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// freeSubnet picks a /24 of 198.18.0.0/15 that no address or route here uses.
func freeSubnet(t *testing.T) string {
	used := sh(t, "ip", "-o", "-4", "addr", "show") + sh(t, "ip", "-4", "route", "show", "table", "all")
	for range 100 {
		s := fmt.Sprintf("198.%d.%d.", 18+mrand.IntN(2), mrand.IntN(256))
		if !strings.Contains(used, s) && !strings.Contains(used, strings.TrimSuffix(s, ".")+"/") {
			return s
		}
	}
	t.Fatal("no free /24 in 198.18.0.0/15")
	return ""
}

// newNetLab creates the switch, n gateway namespaces and the clients' veth;
// everything is removed at cleanup, even when the test fails half-way.
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	needNetns(t)
	sweepStaleNamespaces()
	rnd := fmt.Sprintf("%06x", mrand.IntN(1<<24))
	l := &netLab{t: t, tag: fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), rnd), subnet: freeSubnet(t)}
	l.hostIP = l.subnet + "1"
	addNS := func(name string) {
		sh(t, "ip", "netns", "add", name)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				t.Errorf("removing namespace %s: %v %s", name, err, out)
			}
		})
		sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	}
	l.sw = l.tag + "-sw"
	addNS(l.sw)
	sh(t, "ip", "-n", l.sw, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", l.sw, "link", "set", "br0", "up")

	// The clients' side: an interface in the test's namespace (at most 15
	// characters), its peer on the bridge. Deleting the switch namespace
	// deletes the pair; the explicit delete covers a failure in between.
	host := "asp" + rnd + "h"
	sh(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "host", "netns", l.sw)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	sh(t, "ip", "-n", l.sw, "link", "set", "host", "master", "br0", "up")
	sh(t, "ip", "addr", "add", l.hostIP+"/24", "dev", host)
	sh(t, "ip", "link", "set", host, "up")

	for i := range n {
		name := fmt.Sprintf("%s-gw%d", l.tag, i+1)
		ip := l.subnet + strconv.Itoa(i+2)
		addNS(name)
		port := fmt.Sprintf("p%d", i+1)
		sh(t, "ip", "-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
		sh(t, "ip", "-n", l.sw, "link", "set", port, "master", "br0", "up")
		sh(t, "ip", "-n", name, "addr", "add", ip+"/24", "dev", "eth0")
		sh(t, "ip", "-n", name, "link", "set", "eth0", "up")
		l.ns, l.ips = append(l.ns, name), append(l.ips, ip)
	}
	return l
}

// cut drops every packet between gateway i and the addresses from, both
// ways, with iptables inside i's namespace (one atomic iptables-restore);
// heal removes the rules.
func (l *netLab) cut(i int, from ...string) {
	l.t.Helper()
	rules := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
	for _, ip := range from {
		rules += fmt.Sprintf("-A INPUT -s %s -j DROP\n-A OUTPUT -d %s -j DROP\n", ip, ip)
	}
	l.iptablesRestore(i, rules+"COMMIT\n")
}

func (l *netLab) heal(i int) {
	l.t.Helper()
	l.iptablesRestore(i, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
}

func (l *netLab) iptablesRestore(i int, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.ns[i], "iptables-restore")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("iptables-restore in %s: %v\n%s", l.ns[i], err, out)
	}
}

// nsFarm is three aspstated processes with bbolt stores, each in its own
// namespace of a lab, peered with mutual TLS (certificates from peering/pki,
// as `aspstate certs` makes them).
type nsFarm struct {
	t         *testing.T
	lab       *netLab
	dir       string
	ids       []string
	front     []string // the web servers' address of each gateway
	admin     []string // admin.listen of each gateway
	deadAfter time.Duration
	lease     time.Duration
	gws       []*gateway
}

// nsAdminToken is the farm's admin.token_file token.
const nsAdminToken = "netns-test-admin-token"

func startNSFarm(t *testing.T, deadAfter, lease time.Duration) *nsFarm {
	t.Helper()
	lab := newNetLab(t, 3)
	f := &nsFarm{t: t, lab: lab, dir: t.TempDir(), ids: []string{"gw1", "gw2", "gw3"}, deadAfter: deadAfter, lease: lease}
	if err := pki.WriteFarm(f.dir, f.ids, nil, false); err != nil {
		t.Fatal(err)
	}
	// The admin listeners are not on loopback: /peers needs the token there.
	if err := os.WriteFile(filepath.Join(f.dir, "admin-token"), []byte(nsAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ip := range lab.ips {
		f.front = append(f.front, ip+":42424")
		f.admin = append(f.admin, ip+":42426")
	}
	f.gws = make([]*gateway, len(f.ids))
	for i := range f.ids {
		f.gws[i] = f.launch(i)
	}
	for _, g := range f.gws {
		g.waitListening()
	}
	f.waitReady()
	return f
}

func (f *nsFarm) launch(i int) *gateway {
	id := f.ids[i]
	var members []string
	for j, m := range f.ids {
		members = append(members, m+"="+f.lab.ips[j]+":42425")
	}
	args := []string{"netns", "exec", f.lab.ns[i], binPath,
		"--listen", f.front[i], "--allowed_networks", f.lab.subnet + "0/24",
		"--backend.type", "bbolt", "--backend.bbolt.path", filepath.Join(f.dir, id+".db"),
		"--admin.listen", f.admin[i], "--admin.token_file", filepath.Join(f.dir, "admin-token"),
		"--peering.self", id, "--peering.listen", f.lab.ips[i] + ":42425",
		"--peering.members", strings.Join(members, ","),
		"--peering.tls.ca_file", filepath.Join(f.dir, "ca.pem"),
		"--peering.tls.cert_file", filepath.Join(f.dir, id+".pem"),
		"--peering.tls.key_file", filepath.Join(f.dir, id+"-key.pem"),
		"--peering.dead_after", f.deadAfter.String(), "--peering.lease", f.lease.String(),
		"--peering.aside_dir", filepath.Join(f.dir, id+"-aside")}
	cmd := exec.Command("ip", args...)
	// ip netns exec execs aspstated itself: signals reach it directly, and
	// it dies with the test process rather than outlive it in a namespace.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return launchCmd(f.t, cmd)
}

// waitReady waits until every gateway is linked to the others and serving.
func (f *nsFarm) waitReady() {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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
	for i := range f.gws {
		for {
			st, err := f.status(i)
			if err == nil && st.Serving && st.Lease && st.NotServing == "" {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("gw%d not serving: %+v %v", i+1, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// status is gateway i's /peers, or an error (a paused gateway does not answer).
func (f *nsFarm) status(i int) (peering.Status, error) {
	var st peering.Status
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+f.admin[i]+"/peers", nil)
	req.Header.Set("Authorization", "Bearer "+nsAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("/peers: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// memberState is member m's state in gateway i's view ("" if unknown).
func (f *nsFarm) memberState(i, m int) string {
	st, err := f.status(i)
	if err != nil {
		return ""
	}
	for _, ms := range st.Members {
		if ms.ID == f.ids[m] {
			return ms.State
		}
	}
	return ""
}

// owned returns n targets whose owner, with every member active, is member
// owner.
func (f *nsFarm) owned(owner int, prefix string, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		u := target(fmt.Sprintf("%s%03dxxxxxxxxxxxxxxxxxx", prefix, i))
		if peering.OwnerAmong(wire.TargetKey(u), f.ids) == f.ids[owner] {
			out = append(out, u)
		}
	}
	return out
}

// insert creates counter sessions (counter 0) through gateway 0.
func (f *nsFarm) insert(targets []string) {
	f.t.Helper()
	c := dial(f.t, f.front[0])
	for _, u := range targets {
		if r := c.do(stateclient.Insert(u)); r.Status != 200 {
			f.t.Fatalf("insert %s: %d", u, r.Status)
		}
	}
}

// lockedSession is a session locked before the fault, whose lock and blob
// must be intact afterwards.
type lockedSession struct {
	u      string
	cookie int32
	body   []byte
}

func (f *nsFarm) lockSessions(owner int, prefix string, n int) []lockedSession {
	f.t.Helper()
	var out []lockedSession
	c := dial(f.t, f.front[(owner+1)%3])
	for i, u := range f.owned(owner, prefix, n) {
		body := []byte(fmt.Sprintf("locked session %d of gw%d", i, owner+1))
		if r := c.do(stateclient.Put(u, -1, body)); r.Status != 200 {
			f.t.Fatalf("put %s: %d", u, r.Status)
		}
		r := c.do(stateclient.Acquire(u))
		if r.Status != 200 {
			f.t.Fatalf("lock %s: %d", u, r.Status)
		}
		out = append(out, lockedSession{u: u, cookie: r.LockCookie.Value, body: body})
	}
	return out
}

// checkLocked: through each gateway in via, each session is still locked
// with its cookie (a 423 naming it), and a PUT with that cookie lands.
func (f *nsFarm) checkLocked(ss []lockedSession, via ...int) {
	f.t.Helper()
	for _, s := range ss {
		for _, i := range via {
			r, err := dial(f.t, f.front[i]).try(stateclient.Get(s.u))
			if err != nil || r.Status != 423 || r.LockCookie.Value != s.cookie {
				f.t.Errorf("locked session %s via gw%d: %d cookie %v (%v), want 423 with cookie %d", s.u, i+1, r.Status, r.LockCookie, err, s.cookie)
			}
		}
	}
	for _, s := range ss {
		r, err := dial(f.t, f.front[via[0]]).try(stateclient.Release(s.u, s.cookie))
		if err != nil || r.Status != 200 {
			f.t.Errorf("release of %s with its cookie %d: %d %v", s.u, s.cookie, r.Status, err)
			continue
		}
		r, err = dial(f.t, f.front[via[len(via)-1]]).try(stateclient.Get(s.u))
		if err != nil || r.Status != 200 || !bytes.Equal(r.Body, s.body) {
			f.t.Errorf("session %s after its release: %d %q %v, want 200 %q", s.u, r.Status, r.Body, err, s.body)
		}
	}
}

// checkCounters: every session's counter, read through each gateway in via,
// equals its acknowledged cycles (no acknowledged write lost).
func (f *nsFarm) checkCounters(targets []string, res lockcheck.Result, via ...int) {
	f.t.Helper()
	for s, u := range targets {
		if res.Acked[s] == 0 {
			f.t.Errorf("session %d: no cycle acknowledged", s)
		}
		for _, i := range via {
			r, err := dial(f.t, f.front[i]).try(stateclient.Get(u))
			n, perr := lockcheck.ParseCounter(r.Body)
			if err != nil || r.Status != 200 || perr != nil || n != res.Acked[s] {
				f.t.Errorf("session %d via gw%d: %d %q (%v), want counter %d (acknowledged cycles)", s, i+1, r.Status, r.Body, err, res.Acked[s])
			}
		}
	}
}

// checkHistory runs every check of a load's history: its clients' errors,
// the direct grant check (never two holders, no reused cookie, no lost
// write), cookies in the clients' real-time order, and porcupine.
func checkHistory(t *testing.T, name string, res lockcheck.Result) {
	t.Helper()
	for _, err := range res.Errors {
		t.Errorf("%s: %v", name, err)
	}
	for _, v := range lockcheck.CheckGrants(res.Grants, 0) {
		t.Errorf("%s: %s", name, v)
	}
	for _, v := range cookieOrder(res.Ops) {
		t.Errorf("%s: %s", name, v)
	}
	start := time.Now()
	pres, info := porcupine.CheckOperationsVerbose(lockcheck.Model, res.Ops, 30*time.Second)
	t.Logf("%s: %d grants, acknowledged %v, %d answers 423, %d failovers; porcupine: %s on %d operations in %v",
		name, len(res.Grants), res.Acked, res.Retries, len(res.Failures), pres, len(res.Ops), time.Since(start).Round(time.Millisecond))
	switch pres {
	case porcupine.Ok:
	case porcupine.Illegal:
		t.Errorf("%s: the lock history is not linearizable%s", name, visualize(t, info))
	default:
		// Undecided is not a violation: the grant check above is sound and
		// always decides (see peering's checkLinearizable).
		t.Logf("%s: porcupine could not decide within 30s; the grant check stands", name)
	}
}

// cookieOrder checks that, per session, the cookies clients saw (a 200
// acquire's grant, a 423's holder) never go back in real time: if one answer
// came before another request was sent, the later one names the same cookie
// or a greater one, and a greater one if both are grants.
func cookieOrder(ops []porcupine.Operation) []string {
	type seen struct {
		call, ret int64
		cookie    int32
		grant     bool
	}
	by := map[int][]seen{}
	for _, op := range ops {
		in, out := op.Input.(lockcheck.In), op.Output.(lockcheck.Out)
		if in.Kind != lockcheck.Acquire || (out.Status != 200 && out.Status != 423) {
			continue
		}
		by[in.Session] = append(by[in.Session], seen{op.Call, op.Return, out.Cookie, out.Status == 200})
	}
	var bad []string
	for s, ss := range by {
		slices.SortFunc(ss, func(a, b seen) int { return int(a.ret - b.ret) })
		for j, b := range ss {
			for _, a := range ss[:j] {
				if a.ret >= b.call {
					continue
				}
				if b.cookie < a.cookie || (a.grant && b.grant && b.cookie == a.cookie) {
					bad = append(bad, fmt.Sprintf("session %d: cookie %d (grant %v) seen at %v, after cookie %d (grant %v) was seen at %v",
						s, b.cookie, b.grant, time.Duration(b.ret), a.cookie, a.grant, time.Duration(a.ret)))
				}
			}
		}
	}
	return bad
}

// probe sends one request after another to one gateway and records what
// each got, with times since base.
type probe struct {
	base time.Time
	addr string
	req  func(n int) *wire.ClientRequest
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex // guards res
	res  []probeResult
}

type probeResult struct {
	n         int
	call, ret time.Duration
	status    int // -1: the connection failed (closed, refused, timed out)
	body      string
	cookie    int32
}

func (r probeResult) String() string {
	if r.status < 0 {
		return fmt.Sprintf("#%d sent %v: failed after %v", r.n, r.call.Round(time.Millisecond), (r.ret - r.call).Round(time.Millisecond))
	}
	return fmt.Sprintf("#%d sent %v: %d %q cookie %d after %v", r.n, r.call.Round(time.Millisecond), r.status, r.body, r.cookie, (r.ret - r.call).Round(time.Millisecond))
}

func startProbe(base time.Time, addr string, every time.Duration, req func(n int) *wire.ClientRequest) *probe {
	p := &probe{base: base, addr: addr, req: req, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		c := &stateclient.Conn{Addr: addr}
		defer c.Close()
		for n := 0; ; n++ {
			call := time.Since(base)
			resp, err := c.Do(req(n))
			r := probeResult{n: n, call: call, ret: time.Since(base), status: resp.Status, body: string(resp.Body), cookie: resp.LockCookie.Value}
			if err != nil {
				r.status = -1
			}
			p.mu.Lock()
			p.res = append(p.res, r)
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return p
}

// results stops the probe and returns what it saw.
func (p *probe) results() []probeResult {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return p.snapshot()
}

func (p *probe) snapshot() []probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.res)
}

// first is the first result returned at or after from that satisfies ok.
func (p *probe) first(from time.Duration, ok func(probeResult) bool) (probeResult, bool) {
	for _, r := range p.snapshot() {
		if r.ret >= from && ok(r) {
			return r, true
		}
	}
	return probeResult{}, false
}

// waitProbe polls p until a result returned at or after from satisfies ok,
// for at most d; it fails the test if none does.
func (p *probe) wait(t *testing.T, from, d time.Duration, what string, ok func(probeResult) bool) probeResult {
	t.Helper()
	end := time.Now().Add(d)
	for {
		if r, found := p.first(from, ok); found {
			return r
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v; last results: %v", what, d, tail(p.snapshot(), 5))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail[T any](xs []T, n int) []T { return xs[max(0, len(xs)-n):] }

func failed(r probeResult) bool   { return r.status < 0 }
func answered(r probeResult) bool { return r.status >= 0 }

// ms rounds a duration for the figures.
func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// waitSince polls cond every 20 ms for up to d and returns the time since
// base at which it first held; it fails the test if it never does.
func waitSince(t *testing.T, base time.Time, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(base)
}

var logTimeRE = regexp.MustCompile(`^time=(\S+) `)

// logged is the time since base of the first line g logged at or after from
// that contains every one of subs; ok is false if there is none. Log times
// are wall-clock milliseconds.
func (g *gateway) logged(base time.Time, from time.Duration, subs ...string) (d time.Duration, ok bool) {
	for _, line := range strings.Split(g.Logs(), "\n") {
		m := logTimeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		found := true
		for _, s := range subs {
			found = found && strings.Contains(line, s)
		}
		if !found {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		if d := at.Sub(base); d >= from-time.Millisecond {
			return d, true
		}
	}
	return 0, false
}

// loggedFig formats a logged time relative to since for the figures.
func (g *gateway) loggedFig(base time.Time, since time.Duration, subs ...string) string {
	d, ok := g.logged(base, since, subs...)
	if !ok {
		return "not logged"
	}
	return ms(d - since).String()
}

// declaredFig is when gw1 or gw2 first logged gw3's declaration, after since.
func (f *nsFarm) declaredFig(base time.Time, since time.Duration) string {
	best, found := time.Duration(0), false
	for _, g := range f.gws[:2] {
		if d, ok := g.logged(base, since, "member declared down", "member=gw3"); ok && (!found || d < best) {
			best, found = d, true
		}
	}
	if !found {
		return "not logged"
	}
	return ms(best - since).String()
}
