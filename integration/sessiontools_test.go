package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
)

const (
	toolSessions = 10000
	toolToken    = "integration-admin-token"
)

// buildTool builds cmd/aspstate into dir.
func buildTool(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aspstate")
	out, err := exec.Command("go", "build", "-o", path, "../cmd/aspstate").CombinedOutput()
	if err != nil {
		t.Fatalf("building aspstate: %v\n%s", err, out)
	}
	return path
}

// tool runs the aspstate binary with the admin token in its environment.
func tool(t *testing.T, bin string, stdin io.Reader, args ...string) (stdout []byte, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), "ASPSTATE_ADMIN_TOKEN="+toolToken)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("aspstate %s: %v\nstderr: %s", strings.Join(args, " "), err, errb.String())
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("aspstate %s: no end within 3 minutes", strings.Join(args, " "))
	}
	return out.Bytes(), errb.String()
}

// toolSession is what the test remembers of a session it created.
type toolSession struct {
	id            string
	locked        bool
	cookie        int32
	uninitialized bool
}

// createSessions creates toolSessions sessions on addr over the protocol,
// from several connections: every tenth locked (its cookie remembered),
// every tenth uninitialized (a web server's insert), the rest plain with
// blobs of varied size.
func createSessions(t *testing.T, addr string) []toolSession {
	t.Helper()
	sessions := make([]toolSession, toolSessions)
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := stateclient.Dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			do := func(r *wire.ClientRequest, want int) (wire.ClientResponse, error) {
				resp, err := c.Do(r)
				if err == nil && resp.Status != want {
					err = fmt.Errorf("%v %s: status %d, want %d", r.Method, r.Target, resp.Status, want)
				}
				return resp, err
			}
			for i := w; i < toolSessions; i += workers {
				s := toolSession{id: fmt.Sprintf("tool%020d", i)}
				u := stateclient.Target(s.id)
				var err error
				switch i % 10 {
				case 1:
					s.uninitialized = true
					_, err = do(stateclient.Insert(u), 200)
				default:
					body := bytes.Repeat([]byte{byte(i)}, 7+i%3000)
					_, err = do(stateclient.Put(u, -1, body), 200)
					if err == nil && i%10 == 0 {
						var resp wire.ClientResponse
						resp, err = do(stateclient.Acquire(u), 200)
						s.locked, s.cookie = true, resp.LockCookie.Value
					}
				}
				if err != nil {
					errs <- err
					return
				}
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return sessions
}

type toolRecord struct {
	rec       backends.Record
	remaining time.Duration
}

func decodeExport(t *testing.T, b []byte) map[string]toolRecord {
	t.Helper()
	out := map[string]toolRecord{}
	rd := recordcodec.NewReader(bytes.NewReader(b))
	for {
		key, rec, rem, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("export stream: %v", err)
		}
		out[key] = toolRecord{rec, rem}
	}
}

// 10,000 sessions, some locked and some uninitialized, exported from a
// memory gateway with aspstate export --admin and imported with aspstate
// import --admin into bbolt, badger and Redis gateways: all four export
// the same sessions afterwards (remaining lifetime within a tolerance), and
// a web server's release with the cookie it got from the memory gateway
// works on each of them.
func TestSessionToolsMoveSessionsBetweenBackends(t *testing.T) {
	bin := buildTool(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(toolToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := []string{"--admin.listen", "127.0.0.1:0", "--admin.token_file", tokenFile}
	r := redistest.Start(t)

	src := startGateway(t, admin...)
	sessions := createSessions(t, src.Addr)

	exportFile := filepath.Join(dir, "sessions.rec")
	tool(t, bin, nil, "export", "--admin", src.adminAddr(), "--out", exportFile)
	data, err := os.ReadFile(exportFile)
	if err != nil {
		t.Fatal(err)
	}
	want := decodeExport(t, data)
	if len(want) != toolSessions {
		t.Fatalf("exported %d sessions, want %d", len(want), toolSessions)
	}
	locked, uninit := 0, 0
	for _, r := range want {
		if r.rec.Locked {
			locked++
		}
		if r.rec.Uninitialized {
			uninit++
		}
	}
	if locked != toolSessions/10 || uninit != toolSessions/10 {
		t.Fatalf("export holds %d locked and %d uninitialized sessions, want %d each", locked, uninit, toolSessions/10)
	}

	targets := map[string]*gateway{
		"bbolt":  startGateway(t, append([]string{"--backend.type", "bbolt", "--backend.bbolt.path", filepath.Join(dir, "s.db")}, admin...)...),
		"badger": startGateway(t, append([]string{"--backend.type", "badger", "--backend.badger.path", filepath.Join(dir, "badger")}, admin...)...),
		"redis":  startGateway(t, append([]string{"--backend.type", "redis", "--backend.redis.addrs", r.Addr()}, admin...)...),
	}
	for name, g := range targets {
		t.Run(name, func(t *testing.T) {
			// stdin, as in aspstate import --admin ADDR < F
			f, err := os.Open(exportFile)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out, _ := tool(t, bin, f, "import", "--admin", g.adminAddr())
			if !strings.Contains(string(out), fmt.Sprintf("imported %d, skipped 0", toolSessions)) {
				t.Fatalf("import: %s", out)
			}
			got, _ := tool(t, bin, nil, "export", "--admin", g.adminAddr())
			compareExports(t, decodeExport(t, got), want, time.Minute)

			// The web server's cookies still hold: a release with a wrong
			// cookie leaves the lock, the right one frees it.
			c := dial(t, g.Addr)
			checked := 0
			for _, s := range sessions {
				u := stateclient.Target(s.id)
				switch {
				case s.locked:
					if checked%10 == 0 {
						c.do(stateclient.Release(u, s.cookie+1))
						if resp := c.do(stateclient.Get(u)); resp.Status != 423 || resp.LockCookie.Value != s.cookie {
							t.Fatalf("%s: after a release with a wrong cookie: status %d cookie %v, want 423 with cookie %d", s.id, resp.Status, resp.LockCookie, s.cookie)
						}
					}
					checked++
					if resp := c.do(stateclient.Release(u, s.cookie)); resp.Status != 200 {
						t.Fatalf("%s: release with the old cookie %d: status %d", s.id, s.cookie, resp.Status)
					}
					if resp := c.do(stateclient.Get(u)); resp.Status != 200 {
						t.Fatalf("%s: after the release: status %d, want 200 (unlocked)", s.id, resp.Status)
					}
					resp := c.do(stateclient.Acquire(u))
					if resp.Status != 200 || resp.LockCookie.Value <= s.cookie {
						t.Fatalf("%s: lock after the release: status %d cookie %v, want 200 with a cookie above %d", s.id, resp.Status, resp.LockCookie, s.cookie)
					}
				case s.uninitialized && checked%50 == 0:
					resp := c.do(stateclient.Acquire(u))
					if resp.Status != 200 || resp.ActionFlags.Value != 1 {
						t.Fatalf("%s: first lock of an imported uninitialized session: status %d ActionFlags %v, want 1", s.id, resp.Status, resp.ActionFlags)
					}
					c.do(stateclient.Release(u, resp.LockCookie.Value))
				}
			}
			if checked != toolSessions/10 {
				t.Fatalf("checked %d locked sessions", checked)
			}
		})
	}
}

// compareExports fails unless got holds exactly want's sessions with the
// same records, and a remaining lifetime no longer than want's (it was not
// reset to the full timeout) and shorter by at most tol.
func compareExports(t *testing.T, got, want map[string]toolRecord, tol time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d sessions, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Fatalf("%q missing", k)
		case !bytes.Equal(g.rec.Data, w.rec.Data) || g.rec.Timeout != w.rec.Timeout || g.rec.Uninitialized != w.rec.Uninitialized ||
			g.rec.Locked != w.rec.Locked || g.rec.LockCookie != w.rec.LockCookie || !g.rec.LockDate.Equal(w.rec.LockDate):
			t.Fatalf("%q: %+v, want %+v", k, g.rec, w.rec)
		case g.remaining > w.remaining+2*time.Second || g.remaining < w.remaining-tol:
			t.Fatalf("%q: %v left, want %v (at most %v less)", k, g.remaining, w.remaining, tol)
		}
	}
}
