package main

import (
	"context"
	"github.com/aspstate/aspstate/internal/testlog"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// served is a gateway run in-process by run, with its addresses and logs.
type served struct {
	t     *testing.T
	addr  string
	admin string
	hup   chan os.Signal
	logs  *syncBuffer
	stop  func() int
}

// syncBuffer is a log destination the code under test writes from its own goroutines.
type syncBuffer = testlog.Buffer

func serve(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, hup: make(chan os.Signal, 1), logs: new(syncBuffer)}
	ready, adminReady := make(chan net.Addr, 1), make(chan net.Addr, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, runEnv{args: append([]string{"--listen", "127.0.0.1:0"}, args...), stdout: s.logs, stderr: s.logs,
			ready: func(a net.Addr) { ready <- a }, adminReady: func(a net.Addr) { adminReady <- a }, hup: s.hup})
	}()
	select {
	case a := <-ready:
		s.addr = a.String()
	case code := <-done:
		t.Fatalf("run exited with %d before serving:\n%s", code, s.logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not serving within 10s")
	}
	select {
	case a := <-adminReady:
		s.admin = a.String()
	default:
	}
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// do sends one request on a new connection; it returns the status, or 0
// when the connection was closed without an answer.
func (s *served) do(r *wire.ClientRequest) int {
	s.t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	r.Host = "h"
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(wire.AppendRequest(nil, r))
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		var resp wire.ClientResponse
		if _, err := wire.ParseResponse(buf, &resp); err == nil {
			return resp.Status
		}
		n, err := c.Read(tmp)
		if err != nil {
			return 0
		}
		buf = append(buf, tmp[:n]...)
	}
}

func (s *served) http(path string) (int, string) {
	s.t.Helper()
	resp, err := http.Get("http://" + s.admin + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func putReq(key string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodPut, Target: "/app/" + key,
		Timeout: locking.Num{Value: 20, Present: true, Valid: true}, Body: []byte("blob")}
}
func getReq(key string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: "/app/" + key}
}

func TestSIGHUPReloadsAndKeepsServing(t *testing.T) {
	cfgFile := writeFile(t, "aspstated.yaml", "log:\n  level: info\nallowed_networks: [127.0.0.0/8]\n")
	s := serve(t, "--config", cfgFile)
	if code := s.do(putReq("kept-session-id")); code != 200 {
		t.Fatalf("put: %d", code)
	}

	// Only 10.0.0.0/8 may connect, and every request is logged.
	os.WriteFile(cfgFile, []byte("log:\n  level: debug\nallowed_networks: [10.0.0.0/8]\nidle_timeout: 5s\n"), 0o644)
	s.hup <- nil
	waitFor(t, "the reload", func() bool { return strings.Contains(s.logs.String(), "configuration applied") })
	logs := s.logs.String()
	for _, want := range []string{"applied=\"[log.level allowed_networks]\"", "changed_needing_restart=[idle_timeout]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("reload log lacks %s:\n%s", want, logs)
		}
	}
	if code := s.do(getReq("kept-session-id")); code != 0 {
		t.Fatalf("a client outside allowed_networks got %d", code)
	}

	// A broken file changes nothing.
	os.WriteFile(cfgFile, []byte("log:\n  level: chatty\n"), 0o644)
	s.hup <- nil
	waitFor(t, "the refused reload", func() bool { return strings.Contains(s.logs.String(), "configuration not applied") })

	os.WriteFile(cfgFile, []byte("log:\n  level: debug\nallowed_networks: [127.0.0.0/8]\npeering:\n  drain_on_stop: true\n"), 0o644)
	s.hup <- nil
	waitFor(t, "the second reload", func() bool { return strings.Count(s.logs.String(), "configuration applied") == 2 })
	if !strings.Contains(s.logs.String(), `applied="[allowed_networks peering.drain_on_stop]"`) {
		t.Errorf("peering.drain_on_stop was not applied by SIGHUP:\n%s", s.logs.String())
	}
	if code := s.do(getReq("kept-session-id")); code != 200 {
		t.Fatalf("the session did not survive the reloads: %d", code)
	}
	// The request line is written after the answer: wait for it.
	waitFor(t, "request line (log.level debug applied)", func() bool { return strings.Contains(s.logs.String(), "msg=request") })
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5s", what)
		}
	}
}

func TestAdminListenAndTheDeprecatedAlias(t *testing.T) {
	for _, key := range []string{"--admin.listen", "--debug.listen"} {
		t.Run(key, func(t *testing.T) {
			s := serve(t, key, "127.0.0.1:0")
			if s.admin == "" {
				t.Fatal("no admin listener")
			}
			s.do(putReq("x"))
			if code, _ := s.http("/healthz"); code != 200 {
				t.Fatalf("/healthz %d", code)
			}
			if code, body := s.http("/readyz"); code != 200 {
				t.Fatalf("/readyz %d %s", code, body)
			}
			if code, body := s.http("/metrics"); code != 200 || !strings.Contains(body, `aspstate_build_info{`) {
				t.Fatalf("/metrics %d", code)
			}
			if code, _ := s.http("/debug/pprof/"); code != 404 {
				t.Fatalf("pprof served without admin.pprof: %d", code)
			}
			if deprecated := strings.Contains(s.logs.String(), "debug.listen is deprecated"); deprecated != (key == "--debug.listen") {
				t.Errorf("deprecation warning: %v", deprecated)
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	code, out := runConfig(t, []string{"--version"})
	if code != 0 || !strings.HasPrefix(out, "aspstated ") || !strings.Contains(out, "go1.") {
		t.Fatalf("%d %q", code, out)
	}
	version = "9.9.9-test"
	defer func() { version = "" }()
	if _, out := runConfig(t, []string{"--version"}); !strings.HasPrefix(out, "aspstated 9.9.9-test ") {
		t.Fatalf("ldflags version not used: %q", out)
	}
}

func TestRedisPasswordFromAFileOrTheEnvironmentIsNeverPrinted(t *testing.T) {
	const secret = "pa55-from-file"
	pwFile := writeFile(t, "redis-password", secret+"\n")
	code, out := runConfig(t, []string{"--backend.type", "redis", "--backend.redis.password_file", pwFile, "--print-config"})
	if code != 0 || strings.Contains(out, secret) {
		t.Fatalf("%d, secret printed or refused:\n%s", code, out)
	}
	cfg, _, _, _, err := loadConfig([]string{"--backend.type", "redis", "--backend.redis.password_file", pwFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil { // a reload validates again
		t.Fatalf("second Validate: %v", err)
	}
	if cfg.Backend.Redis.Password != secret {
		t.Fatalf("password %q, want the file's first line", cfg.Backend.Redis.Password)
	}
	code, out = runConfig(t, []string{"--backend.type", "redis", "--print-config"}, "ASPSTATE_BACKEND__REDIS__PASSWORD=env-secret")
	if code != 0 || strings.Contains(out, "env-secret") || !strings.Contains(out, "********") {
		t.Fatalf("%d, environment secret printed or not masked:\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend.redis.password_file", "/nonexistent/pw"}, "backend.redis.password_file: "},
		{[]string{"--backend.redis.password_file", pwFile, "--backend.redis.password", "x"}, "backend.redis.password_file: set either"},
	} {
		code, out := runConfig(t, append([]string{"--backend.type", "redis"}, tc.args...))
		if code != 2 || !strings.Contains(out, tc.want) || strings.Contains(out, secret) {
			t.Errorf("%v: %d %q", tc.args, code, out)
		}
	}
}

func TestTheOldVersionKeyNamesItsNewName(t *testing.T) {
	file := writeFile(t, "old.yaml", "version: 4.0.30319\n")
	for _, tc := range [][]string{{"--config", file}, nil} {
		var env []string
		if tc == nil {
			env = []string{"ASPSTATE_VERSION=4.0.30319"}
		}
		code, out := runConfig(t, tc, env...)
		if code != 2 || !strings.Contains(out, "version: renamed to aspnet_version") {
			t.Errorf("%v %v: %d %q", tc, env, code, out)
		}
	}
}
