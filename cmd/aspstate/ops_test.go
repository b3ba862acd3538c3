package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

type runResult struct {
	code           int
	stdout, stderr string
}

func runTool(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return runResult{code, out.String(), errb.String()}
}

func parseRequest(t *testing.T, b []byte) *wire.Request {
	t.Helper()
	var req wire.Request
	n, err := wire.NewParser(wire.DefaultLimits()).Parse(b, &req)
	if err != nil || n != len(b) {
		t.Fatalf("request %q: n=%d err=%v", b, n, err)
	}
	return &req
}

func recv(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the server")
		return nil
	}
}

func TestGetPrintsLockedWithoutHTTPPrefix(t *testing.T) {
	lockedAt := time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)
	ticks := wire.TicksFromTime(lockedAt)
	// p2pStateServer's shape: no "HTTP/1.1 " on the status line.
	addr, reqs := scripted(t, "423 Locked\r\nX-AspNet-Version: 2.0.50727\r\nLockDate: "+strconv.FormatInt(ticks, 10)+
		"\r\nLockAge: 5\r\nLockCookie: 7\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n")
	r := runTool(t, "", "get", "--server", addr, "--app", "/LM/W3SVC/1/ROOT/Shop", "kf51kjsndazux1l0vjlec5jw")
	if r.code != exitLocked {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"423 Locked\n", "LockCookie: 7\n", "LockAge: 5 s\n", "LockDate: 2024-03-05 14:07:09.000", "X-AspNet-Version: 2.0.50727\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	req := parseRequest(t, recv(t, reqs))
	const wantTarget = "%2fLM%2fW3SVC%2f1%2fROOT%2fShop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN%2fXWE%2f4khrD9U%3d)%2fkf51kjsndazux1l0vjlec5jw"
	if req.Method != wire.MethodGet || string(req.Target) != wantTarget || req.Exclusive != wire.ExclusiveNone {
		t.Errorf("sent %v %s exclusive=%d", req.Method, req.Target, req.Exclusive)
	}
}

func TestOpsSendWhatTheClientSends(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"
	num := func(v int32) locking.Num { return locking.Num{Value: v, Present: true, Valid: true} }
	tests := []struct {
		name  string
		stdin string
		args  []string
		check func(t *testing.T, r *wire.Request)
	}{
		{"lock", "", []string{"lock", "s1"}, func(t *testing.T, r *wire.Request) {
			if r.Method != wire.MethodGet || r.Exclusive != wire.ExclusiveAcquire || r.LockCookie.Present {
				t.Errorf("got %+v", r)
			}
		}},
		{"unlock", "", []string{"unlock", "--cookie", "4", "s1"}, func(t *testing.T, r *wire.Request) {
			if r.Method != wire.MethodGet || r.Exclusive != wire.ExclusiveRelease || r.LockCookie != num(4) {
				t.Errorf("got %+v", r)
			}
		}},
		{"delete", "", []string{"delete", "--cookie", "9", "--key", "/a b/c"}, func(t *testing.T, r *wire.Request) {
			if r.Method != wire.MethodDelete || r.LockCookie != num(9) || string(r.Key) != "/a b/c" || string(r.Target) != "%2fa+b%2fc" {
				t.Errorf("got %+v", r)
			}
		}},
		{"touch", "", []string{"touch", "--target", "raw%2Fkey"}, func(t *testing.T, r *wire.Request) {
			if r.Method != wire.MethodHead || string(r.Target) != "raw%2Fkey" {
				t.Errorf("got %+v", r)
			}
		}},
		{"put", "\x14\x00\x00\x00\x00\x00\xff", []string{"put", "--timeout", "30", "--cookie", "3", "--extra-flags", "1", "s1"}, func(t *testing.T, r *wire.Request) {
			if r.Method != wire.MethodPut || r.Timeout != num(30) || r.LockCookie != num(3) || r.ExtraFlags != num(1) ||
				string(r.Body) != "\x14\x00\x00\x00\x00\x00\xff" {
				t.Errorf("got %+v", r)
			}
		}},
		{"put defaults", "x", []string{"put", "s1"}, func(t *testing.T, r *wire.Request) {
			if r.Timeout != num(20) || r.LockCookie.Present || r.ExtraFlags.Present || string(r.Body) != "x" {
				t.Errorf("got %+v", r)
			}
		}},
		{"put no timeout", "x", []string{"put", "--timeout", "-1", "s1"}, func(t *testing.T, r *wire.Request) {
			if r.Timeout.Present {
				t.Errorf("got %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, reqs := scripted(t, ok)
			r := runTool(t, tt.stdin, append(tt.args, "--server", addr)...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "200 OK\n") {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			tt.check(t, parseRequest(t, recv(t, reqs)))
		})
	}
}

func TestPutBodyFromFile(t *testing.T) {
	addr, reqs := scripted(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	path := t.TempDir() + "/blob"
	blob := []byte{0x14, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 'a', 5, 0, 0, 0, 2, 5, 0, 0, 0, 0xff}
	if err := os.WriteFile(path, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runTool(t, "not this", "put", "--server", addr, "-f", path, "s1"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if req := parseRequest(t, recv(t, reqs)); !bytes.Equal(req.Body, blob) {
		t.Errorf("body %x, want %x", req.Body, blob)
	}
}

func TestGetBodyHexDumpAndRaw(t *testing.T) {
	body := "\x14\x00\x00\x00\x00\x00\xff"
	resp := "HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nActionFlags: 1\r\nLockCookie: 2\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 7\r\n\r\n" + body
	addr, _ := scripted(t, resp)

	r := runTool(t, "", "lock", "--server", addr, "s1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"200 OK\n", "ActionFlags: 1\n", "LockCookie: 2\n", "Timeout: 20 min\n", "Content-Length: 7\n",
		"00000000  14 00 00 00 00 00 ff"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runTool(t, "", "lock", "--raw", "--server", addr, "s1")
	if r.code != 0 || r.stdout != body {
		t.Fatalf("--raw: exit %d, stdout %q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "LockCookie: 2") {
		t.Errorf("--raw: headers not on stderr: %q", r.stderr)
	}
}

func TestExitStatus(t *testing.T) {
	addr400, _ := scripted(t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	if r := runTool(t, "", "unlock", "--cookie", "1", "--server", addr400, "s1"); r.code != exitFail || !strings.Contains(r.stdout, "400 Bad Request") {
		t.Errorf("400: exit %d, stdout %q", r.code, r.stdout)
	}
	addr404, _ := scripted(t, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	if r := runTool(t, "", "get", "--server", addr404, "s1"); r.code != exitNotFound || !strings.Contains(r.stdout, "404 Not Found") {
		t.Errorf("404: exit %d", r.code)
	}
	addr423, _ := scripted(t, "HTTP/1.1 423 Locked\r\nLockCookie: 3\r\nLockAge: 1\r\nLockDate: 0\r\nContent-Length: 0\r\n\r\n")
	if r := runTool(t, "", "lock", "--server", addr423, "s1"); r.code != exitLocked {
		t.Errorf("423: exit %d", r.code)
	}
	addr500, _ := scripted(t, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
	if r := runTool(t, "", "touch", "--server", addr500, "s1"); r.code != exitFail {
		t.Errorf("500: exit %d", r.code)
	}

	// A server that closes without answering: a transport error.
	s := startServer(t, func(c net.Conn) { c.Close() })
	if r := runTool(t, "", "touch", "--server", s.addr(), "s1"); r.code != exitUnreachable || r.stderr == "" {
		t.Errorf("closed: exit %d, stderr %q", r.code, r.stderr)
	}
	// Nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	if r := runTool(t, "", "get", "--server", dead, "s1"); r.code != exitUnreachable {
		t.Errorf("refused: exit %d", r.code)
	}
	// A server that never answers: the network timeout applies.
	silent := startServer(t, func(c net.Conn) { buf := make([]byte, 100); c.Read(buf); time.Sleep(2 * time.Second); c.Close() })
	start := time.Now()
	if r := runTool(t, "", "get", "--network-timeout", "200ms", "--server", silent.addr(), "s1"); r.code != exitUnreachable {
		t.Errorf("silent: exit %d", r.code)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("silent server: took %v despite a 200ms network timeout", d)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"get"},
		{"get", "a", "b"},
		{"get", "--key", "k", "s1"},
		{"unlock", "s1"},
		{"bench", "--scenario", "nope"},
		{"bench", "--scenario", "cycle", "--connections", "10", "--sessions", "5"},
		{"ceiling"},
		{"unlock", "--force"},
		{"unlock", "--force", "--admin", "127.0.0.1:1", "a", "b"},
		{"unlock", "--force=false", "--admin", "127.0.0.1:1", "a"},
		{"unlock", "--force", "s1"}, // no --admin
		{"delete", "--admin", "127.0.0.1:1"},
		{"inspect", "--admin", "127.0.0.1:1"},
		{"sessions", "--admin", "127.0.0.1:1", "extra"},
		{"sessions", "--admin", "127.0.0.1:1", "--limit", "-1"},
		{"sessions", "--admin", "127.0.0.1:1", "--older-than", "soon"},
		{"sessions"},
		{"export", "--bbolt", "x", "--badger", "y"},
		{"export", "--bbolt", "x", "--admin", "127.0.0.1:1"},
		{"import", "--badger", "y", "--admin", "127.0.0.1:1"},
		{"export", "--admin", "ftp://x"},
		{"import", "stray"},
	} {
		if r := runTool(t, "", args...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, r.code, exitUsage)
		}
	}
	for _, args := range [][]string{
		{"get", "--help"}, {"help", "get"}, {"get", "-h"}, {"unlock", "--force", "-h"}, {"sessions", "-h"},
		{"export", "--help"}, {"import", "-h"}, {"ceiling", "-h"}, {"bench", "-h"}, {"peers", "-h"}, {"certs", "-h"},
	} {
		if r := runTool(t, "", args...); r.code != exitOK || !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := runTool(t, "", "help"); r.code != exitOK || !strings.Contains(r.stdout, "aspstate sessions") || !strings.Contains(r.stdout, "Exit status") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runTool(t, "", "get", "--no-such-flag", "s1"); r.code != exitUsage || !strings.Contains(r.stderr, "no-such-flag") || r.stdout != "" {
		t.Errorf("unknown flag: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
