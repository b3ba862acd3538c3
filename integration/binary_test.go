package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
)

// The real binary answers a web server's read-write page sequence over TCP.
func TestBinaryServesTheASPNETSequence(t *testing.T) {
	g := startGateway(t)
	c := dial(t, g.Addr)
	u := target("kf51kjsndazux1l0vjlec5jw")

	if r := c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: u, Exclusive: wire.ExclusiveAcquire}); r.Status != 404 {
		t.Fatalf("acquire of a new session: status %d, want 404", r.Status)
	}
	if r := c.do(&wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: num(20), ExtraFlags: num(1), LockCookie: num(0), Body: b7}); r.Status != 200 {
		t.Fatalf("uninitialized put: status %d", r.Status)
	}
	r := c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: u, Exclusive: wire.ExclusiveAcquire})
	if r.Status != 200 || r.LockCookie.Value != 2 || r.ActionFlags.Value != 1 || string(r.Body) != string(b7) {
		t.Fatalf("acquire: status %d cookie %v actionflags %v body %x", r.Status, r.LockCookie, r.ActionFlags, r.Body)
	}
	if v := string(r.Version); !strings.HasPrefix(v, "4.") {
		t.Fatalf("X-AspNet-Version %q, want 4.x", v)
	}
	body := []byte{0x14, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0xff}
	if r := c.do(&wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: num(20), LockCookie: num(2), Body: body}); r.Status != 200 {
		t.Fatalf("put with cookie: status %d", r.Status)
	}
	r = c.do(&wire.ClientRequest{Method: wire.MethodGet, Target: u})
	if r.Status != 200 || string(r.Body) != string(body) || r.ActionFlags.Present {
		t.Fatalf("get: status %d body %x actionflags %v", r.Status, r.Body, r.ActionFlags)
	}
}

// SIGTERM and SIGINT stop the server cleanly with exit code 0.
func TestBinaryStopsCleanlyOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			g := startGateway(t)
			c := dial(t, g.Addr)
			c.do(&wire.ClientRequest{Method: wire.MethodHead, Target: target("s1")})
			if code := g.stop(sig); code != 0 {
				t.Fatalf("exit code %d after %v, want 0\n%s", code, sig, g.Logs())
			}
			if !strings.Contains(g.Logs(), "stopped") {
				t.Fatalf("no clean stop in the log:\n%s", g.Logs())
			}
		})
	}
}

// Bad configuration names the key and exits non-zero without serving.
func TestBinaryRejectsBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknownKey, []byte("listen: 127.0.0.1:0\nidle_timeot: 5s\n"), 0o644)
	badValue := filepath.Join(dir, "bad.toml")
	os.WriteFile(badValue, []byte("idle_timeout = \"soon\"\n"), 0o644)

	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown backend", []string{"--backend.type", "floppy"}, nil, "backend.type"},
		{"unknown flag", []string{"--no-such-key", "1"}, nil, "no-such-key"},
		{"unknown key in file", []string{"--config", unknownKey}, nil, "idle_timeot"},
		{"bad value in file", []string{"--config", badValue}, nil, "idle_timeout"},
		{"unknown env key", nil, []string{"ASPSTATE_LISTN=1"}, "ASPSTATE_LISTN"},
		{"bad network", []string{"--allowed_networks", "10.0.0.0/33"}, nil, "allowed_networks"},
		{"bad version", []string{"--aspnet_version", "1.1.4322"}, nil, "aspnet_version"},
		{"bad log level", []string{"--log.level", "chatty"}, nil, "log.level"},
		{"missing config file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "nope.yaml"},
		{"bad listen", []string{"--listen", "nohost"}, nil, "listen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, tc.args...)
			cmd.Env = append(cleanEnv(), tc.env...)
			out, err := runWithTimeout(cmd, 20*time.Second)
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("err %v, want a non-zero exit; output:\n%s", err, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output does not name %q:\n%s", tc.want, out)
			}
		})
	}
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), err
}

// Defaults < file < environment < flags, as --print-config shows.
func TestBinaryConfigurationPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("idle_timeout: 30s\naspnet_version: 4.0.1\nlimits:\n  max_header_lines: 40\n"), 0o644)
	printed := func(args []string, env ...string) string {
		t.Helper()
		cmd := exec.Command(binPath, append([]string{"--print-config"}, args...)...)
		cmd.Env = append(cleanEnv(), env...)
		out, err := runWithTimeout(cmd, 20*time.Second)
		if err != nil {
			t.Fatalf("print-config: %v\n%s", err, out)
		}
		return out
	}
	out := printed(nil)
	for _, want := range []string{"idle_timeout: 1m0s", "listen: 127.0.0.1:42424", "type: memory"} {
		if !strings.Contains(out, want) {
			t.Fatalf("defaults: missing %q in\n%s", want, out)
		}
	}
	out = printed([]string{"--config", file})
	if !strings.Contains(out, "idle_timeout: 30s") || !strings.Contains(out, "max_header_lines: 40") {
		t.Fatalf("file not applied:\n%s", out)
	}
	out = printed([]string{"--config", file}, "ASPSTATE_IDLE_TIMEOUT=40s", "ASPSTATE_BACKEND__TYPE=bbolt")
	if !strings.Contains(out, "idle_timeout: 40s") || !strings.Contains(out, "type: bbolt") || !strings.Contains(out, "aspnet_version: 4.0.1") {
		t.Fatalf("environment does not override the file:\n%s", out)
	}
	out = printed([]string{"--config", file, "--idle_timeout", "50s"}, "ASPSTATE_IDLE_TIMEOUT=40s")
	if !strings.Contains(out, "idle_timeout: 50s") {
		t.Fatalf("flag does not override the environment:\n%s", out)
	}
	out = printed([]string{"--backend.redis.password", "hunter2"})
	if strings.Contains(out, "hunter2") {
		t.Fatalf("print-config shows the Redis password:\n%s", out)
	}
}

// A client outside allowed_networks is disconnected without an answer.
func TestBinaryAllowedNetworks(t *testing.T) {
	g := startGateway(t, "--allowed_networks", "10.0.0.0/8")
	c := dial(t, g.Addr)
	if _, err := c.try(&wire.ClientRequest{Method: wire.MethodHead, Target: target("s")}); err == nil {
		t.Fatal("a client from 127.0.0.1 was answered although only 10.0.0.0/8 is allowed")
	}
	g2 := startGateway(t, "--allowed_networks", "10.0.0.0/8,127.0.0.0/8")
	c2 := dial(t, g2.Addr)
	if r := c2.do(&wire.ClientRequest{Method: wire.MethodHead, Target: target("s")}); r.Status != 404 {
		t.Fatalf("allowed client: status %d, want 404", r.Status)
	}
}

// Every sample configuration shipped in deploy/config is accepted.
func TestBinarySampleConfigsParse(t *testing.T) {
	files, _ := filepath.Glob("../deploy/config/*")
	if len(files) < 4 {
		t.Fatalf("found %d sample configs, want at least 4", len(files))
	}
	for _, f := range files {
		cmd := exec.Command(binPath, "--config", f, "--print-config")
		cmd.Env = cleanEnv()
		out, err := runWithTimeout(cmd, 20*time.Second)
		if err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
