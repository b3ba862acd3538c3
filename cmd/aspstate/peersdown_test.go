package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/cmd/aspstated/admin"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/peering"
)

// peers down against the gateway's real operators' listener, where POST
// /peers/down needs the token even on loopback: without it the tool exits
// 5 (refused), with --token-file or ASPSTATE_ADMIN_TOKEN it gets the
// gateway's own answer.
func TestPeersDownSendsTheToken(t *testing.T) {
	st, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	node, err := peering.New(peering.Config{Self: "gw1", Members: []string{"gw1=127.0.0.1:1001", "gw2=127.0.0.1:1002", "gw3=127.0.0.1:1003"},
		TLS: peering.TLSFiles{CAFile: "-", CertFile: "-", KeyFile: "-"}, Logger: log}, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	srv, err := frontend.New(frontend.Config{Backend: st, Logger: log, Router: node})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	adm, err := admin.New(admin.Options{Frontend: srv, Backend: st, BackendName: "memory", Node: node, Logger: log,
		Config: admin.Config{TokenFile: tokenFile}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := adm.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Shutdown(context.Background()) })
	addr := a.String()
	t.Setenv("ASPSTATE_ADMIN_TOKEN", "")

	if r := runTool(t, "", "peers", "--admin", addr); r.code != exitOK || !strings.Contains(r.stdout, "gw3") {
		t.Fatalf("peers (no token needed on loopback): exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runTool(t, "", "peers", "down", "gw3", "--admin", addr); r.code != exitRefused || !strings.Contains(r.stderr, "401") {
		t.Fatalf("peers down without the token: exit %d %q, want %d (401)", r.code, r.stderr, exitRefused)
	}
	if r := runTool(t, "", "peers", "down", "nobody", "--admin", addr, "--token-file", tokenFile); r.code != exitFail || strings.Contains(r.stderr, "401") {
		t.Fatalf("peers down of an unknown member with --token-file: exit %d %q, want the gateway's 400", r.code, r.stderr)
	}
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)
	r := runTool(t, "", "peers", "down", "gw3", "--admin", addr)
	if r.code != exitOK || !strings.Contains(r.stdout, "gw3 declared down") {
		t.Fatalf("peers down with ASPSTATE_ADMIN_TOKEN: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}
