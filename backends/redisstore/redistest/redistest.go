package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/internal/freeport"
	"github.com/redis/go-redis/v9"
)

const (
	// readyTimeout bounds how long a starting server may take to answer PING.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds a graceful SIGTERM shutdown before SIGKILL.
	stopTimeout = 5 * time.Second
	// startAttempts covers the race between picking a free port and
	// redis-server binding it, which another process may win.
	startAttempts = 5
)

// Server is one redis-server process owned by a test.
type Server struct {
	t     testing.TB
	bin   string
	dir   string
	port  int
	extra []string // more redis-server arguments, on every (re)start
	conf  string   // config file, first argument, for a sentinel

	mu     sync.Mutex // guards proc, exited, paused, runs
	proc   *exec.Cmd
	exited chan struct{} // closed when proc has been waited for
	paused bool
	runs   int // number of processes started, names their log files
}

// Start finds redis-server on PATH, starts it on a free 127.0.0.1 port and
// waits until it answers PING. args are more redis-server arguments, such as
// "--user", "alice", "on", ">secret", "~*", "+@all"; they are passed again on
// Restart. The server is stopped when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return start(t, func() ([]string, error) { return args, nil })
}

// start starts a server whose extra arguments come from args, called again
// with each new port attempt (a cluster node needs a second free port).
func start(t testing.TB, args func() ([]string, error)) *Server {
	t.Helper()
	return startConf(t, "", args)
}

// startConf is start with a config file body (for a sentinel, which must
// have a writable one) written to the server's directory.
func startConf(t testing.TB, conf string, args func() ([]string, error)) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server not found on PATH (%v): install it (apt-get install redis-server, brew install redis) to run these tests", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	if conf != "" {
		s.conf = filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	var last error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		extra, err := args()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.port, s.extra = port, extra
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("redistest: start redis-server: %v", last)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Stop shuts the server down (resuming it first if paused) and waits for the
// process to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart stops the server and starts a new one on the same port, with an
// empty data set (persistence is off), and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The port was just released; another process could take it, but on a
	// test machine that is rare enough that a few attempts suffice.
	var err error
	for range startAttempts {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart redis-server on port %d: %v", s.port, err)
}

// Pause stops the process with SIGSTOP: connections stay open and the kernel
// still accepts new ones, but nothing is answered, like a stalled server.
func (s *Server) Pause() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: Pause: server is not running")
	}
	if err := pause(s.proc.Process); err != nil {
		s.t.Fatalf("redistest: Pause: %v", err)
	}
	s.paused = true
}

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || !s.paused {
		return
	}
	if err := resume(s.proc.Process); err != nil {
		s.t.Fatalf("redistest: Resume: %v", err)
	}
	s.paused = false
}

// Client returns a go-redis client for the server (for inspection and setup
// in tests), closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// start launches one process on s.port and waits for PING. On failure the
// process is gone and its log is in the error.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs++
	logFile := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.runs))
	var args []string
	if s.conf != "" {
		args = append(args, s.conf, "--sentinel")
	}
	cmd := exec.Command(s.bin, append(args,
		"--save", "", "--appendonly", "no",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--logfile", logFile, "--daemonize", "no")...)
	cmd.Args = append(cmd.Args, s.extra...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.proc, s.exited, s.paused = cmd, exited, false

	deadline := time.Now().Add(readyTimeout)
	for {
		if err := ping(s.Addr()); err == nil {
			return nil
		}
		select {
		case <-exited:
			s.proc = nil
			return fmt.Errorf("redis-server exited during startup on port %d; log:\n%s", s.port, readLog(logFile))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("redis-server did not answer PING within %v on port %d; log:\n%s", readyTimeout, s.port, readLog(logFile))
		}
	}
}

func (s *Server) stopLocked() {
	if s.proc == nil {
		return
	}
	p := s.proc.Process
	if s.paused {
		_ = resume(p)
		s.paused = false
	}
	_ = terminate(p)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = p.Kill()
		<-s.exited
	}
	s.proc = nil
}

// ping sends an inline PING and expects +PONG, or -NOAUTH from a server
// that requires a password (it is up; the test knows how to log in).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort() (int, error) { return freeport.Port() }

func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}
