package main

import (
	"context"
	"net"
	"testing"

	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/frontend"
)

// ping is a container health check: 0 when a state server answers, 1 for
// anything else (Docker reserves the other statuses).
func TestPing(t *testing.T) {
	be, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	srv, err := frontend.New(frontend.Config{Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	if r := runTool(t, "", "ping", "--server", ln.Addr().String()); r.code != 0 {
		t.Fatalf("a real server: exit %d, stderr %q", r.code, r.stderr)
	}
	addr500, _ := scripted(t, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
	if r := runTool(t, "", "ping", "--server", addr500); r.code != 1 {
		t.Errorf("500: exit %d", r.code)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close()
	if r := runTool(t, "", "ping", "--server", addr, "--network-timeout", "300ms"); r.code != 1 {
		t.Errorf("nothing listening: exit %d", r.code)
	}
}
