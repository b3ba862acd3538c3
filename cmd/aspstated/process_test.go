package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain runs main itself when asked, so a test can run the real process
// (signal dispositions included) from the test binary.
func TestMain(m *testing.M) {
	if os.Getenv("ASPSTATED_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// serveInProcess runs the gateway with args until the test ends; it returns
// the listening address and a function that stops the gateway and returns
// what it wrote to stderr (nil when stderr is not a strings.Builder).
func serveInProcess(t *testing.T, stderr io.Writer, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, runEnv{args: args, stdout: io.Discard, stderr: stderr, ready: func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("run exited %d before serving", code)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("not serving after 10 s (blocked writing its log?)")
	}
	var once sync.Once
	code := -1
	stop := func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(15 * time.Second):
				t.Error("run did not return after its context ended")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	_, port, _ := net.SplitHostPort(addr.String())
	return net.JoinHostPort("127.0.0.1", port), stop
}

// head sends a HEAD and returns the status line, or fails the test.
func head(t *testing.T, addr string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte("HEAD /k HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	b := make([]byte, 512)
	n, err := nc.Read(b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.SplitN(string(b[:n]), "\r\n", 2)[0]
}

// malformed sends a request that the server logs (at info) and closes.
func malformed(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write([]byte("NONSENSE\r\n\r\n"))
	io.Copy(io.Discard, nc)
}

// stuckWriter blocks every Write until released, as a pipe nobody reads does.
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

// issue 17: a log output that blocks (a full pipe) does not block the server.
func TestBlockedLogOutputDoesNotBlockTheServer(t *testing.T) {
	w := stuckWriter{release: make(chan struct{})}
	defer close(w.release)
	addr, _ := serveInProcess(t, w, "--listen", "127.0.0.1:0", "--log.level", "debug")
	for i := 0; i < 200; i++ {
		malformed(t, addr)
	}
	if got := head(t, addr); got != "HTTP/1.1 404 Not Found" {
		t.Errorf("got %q", got)
	}
}

// issue 17: with stderr a broken pipe, the first log line used to kill the
// process (SIGPIPE). The real process (main, from this test binary) keeps
// serving after logging into a pipe whose reader is gone.
func TestBrokenStderrDoesNotKillTheProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone: writes get EPIPE (and SIGPIPE)
	cmd := exec.Command(os.Args[0], "--listen", addr)
	cmd.Env = append(os.Environ(), "ASPSTATED_TEST_RUN_MAIN=1")
	cmd.Stderr, cmd.Stdout = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			nc.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the server exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("not serving after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		malformed(t, addr)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-exited:
		t.Fatalf("the server died logging to a broken stderr: %v", err)
	default:
	}
	if got := head(t, addr); got != "HTTP/1.1 404 Not Found" {
		t.Errorf("got %q", got)
	}
}

// issue 17: listening on a wildcard address, or beyond loopback without
// allowed_networks, is warned about at start; loopback is not.
func TestListenWarnings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--listen", "127.0.0.1:0"}, nil},
		{[]string{"--listen", "0.0.0.0:0"}, []string{"listening on every address", "listening beyond loopback without allowed_networks"}},
		{[]string{"--listen", "0.0.0.0:0", "--allowed_networks", "10.0.0.0/8"}, []string{"listening on every address"}},
	} {
		var out syncBuilder
		_, stop := serveInProcess(t, &out, tc.args...)
		stop()
		got := out.String()
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%v: no %q in the log:\n%s", tc.args, w, got)
			}
		}
		if n := strings.Count(got, "level=WARN"); n != len(tc.want) {
			t.Errorf("%v: %d warnings, want %d:\n%s", tc.args, n, len(tc.want), got)
		}
	}
}

type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
