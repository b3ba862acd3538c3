package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
	"github.com/aspstate/aspstate/locking"
)

// binPath is the aspstated binary built by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aspstated-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "aspstated")
	build := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/aspstated")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building aspstated:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gateway is one running aspstated process.
type gateway struct {
	t    *testing.T
	cmd  *exec.Cmd
	Addr string
	mu   sync.Mutex // guards logs
	logs bytes.Buffer
	done chan struct{}
	err  error // exit status, valid after done is closed
}

var listeningRE = regexp.MustCompile(`aspstated listening.*addr=(\S+)`)

// startGateway starts aspstated with args (plus --listen 127.0.0.1:0 unless
// args set it) and waits until it listens. The process is killed at cleanup.
func startGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	g := launch(t, args...)
	g.waitListening()
	return g
}

// waitListening waits until the process logs its listening address and sets
// Addr from it.
func (g *gateway) waitListening() {
	t := g.t
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-g.done:
			t.Fatalf("aspstated exited before listening: %v\n%s", g.err, g.Logs())
		case <-deadline:
			t.Fatalf("aspstated did not start listening within 20s\n%s", g.Logs())
		case <-time.After(20 * time.Millisecond):
		}
		if m := listeningRE.FindStringSubmatch(g.Logs()); m != nil {
			g.Addr = m[1]
			return
		}
	}
}

// launch starts the process without waiting for it to listen.
func launch(t *testing.T, args ...string) *gateway {
	t.Helper()
	hasListen := false
	for _, a := range args {
		hasListen = hasListen || strings.HasPrefix(a, "--listen")
	}
	if !hasListen {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	return launchCmd(t, exec.Command(binPath, args...))
}

// launchCmd starts cmd, which runs aspstated (directly or through a wrapper
// that execs it, such as ip netns exec), with the test's clean environment;
// the process is killed at cleanup.
func launchCmd(t *testing.T, cmd *exec.Cmd) *gateway {
	t.Helper()
	g := &gateway{t: t, cmd: cmd, done: make(chan struct{})}
	g.cmd.Env = cleanEnv()
	pr, pw := io.Pipe()
	g.cmd.Stdout, g.cmd.Stderr = pw, pw
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			g.mu.Lock()
			g.logs.Write(sc.Bytes())
			g.logs.WriteByte('\n')
			g.mu.Unlock()
		}
	}()
	go func() {
		g.err = g.cmd.Wait()
		pw.Close()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
		if t.Failed() {
			t.Logf("aspstated log:\n%s", g.Logs())
		}
	})
	return g
}

// cleanEnv is the test's environment without ASPSTATE_ variables, so a
// developer's settings cannot change what the tests see.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "ASPSTATE_") {
			env = append(env, e)
		}
	}
	return env
}

func (g *gateway) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

// signal sends sig and waits for the exit; it returns the exit code.
func (g *gateway) stop(sig syscall.Signal) int {
	g.t.Helper()
	g.cmd.Process.Signal(sig)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		g.t.Fatalf("aspstated did not exit within 20s of %v", sig)
	}
	return g.cmd.ProcessState.ExitCode()
}

// client is a state-protocol client over one TCP connection
// (internal/stateclient) that fails the test on transport errors in do.
type client struct {
	t *testing.T
	c *stateclient.Conn
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := stateclient.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &client{t: t, c: c}
}

// do sends one request and reads one response.
func (c *client) do(r *wire.ClientRequest) wire.ClientResponse {
	c.t.Helper()
	resp, err := c.try(r)
	if err != nil {
		c.t.Fatalf("%v %s: %v", r.Method, r.Target, err)
	}
	return resp
}

// try is do that returns transport errors instead of failing the test.
func (c *client) try(r *wire.ClientRequest) (wire.ClientResponse, error) { return c.c.Do(r) }

func num(v int32) locking.Num { return locking.Num{Value: v, Present: true, Valid: true} }

// b7 is the empty 20-minute session a web server creates (docs/protocol.md §7).
var b7 = []byte{0x14, 0, 0, 0, 0, 0, 0xff}

func target(session string) string { return wire.ClientTarget("/LM/W3SVC/1/ROOT/Shop", session) }
