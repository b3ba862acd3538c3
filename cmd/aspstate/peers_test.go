package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/peering"
)

// aspstate peers prints the view a gateway reports; peers down posts the
// member and prints the new view; failures exit non-zero.
func TestPeersCommand(t *testing.T) {
	var downed string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := peering.Status{Self: "gw1", Epoch: "3/abcd", Serving: true, HandoffIn: true, HandoffOut: true,
			Forwards: 12, MovedOut: 5, HeldForRestart: 7, RestartGrace: "5s",
			Members: []peering.MemberStatus{{ID: "gw1", Addr: "10.0.0.1:42425", State: "active", Self: true},
				{ID: "gw2", Addr: "10.0.0.2:42425", State: "active", LinkUp: true, RTT: "180µs"},
				{ID: "gw3", Addr: "10.0.0.3:42425", State: "restarting", LastError: "connection refused"}}}
		switch {
		case r.Method == "GET" && r.URL.Path == "/peers":
		case r.Method == "POST" && r.URL.Path == "/peers/down" && r.URL.Query().Get("member") == "gw3":
			downed = "gw3"
			st.Members[2].State = "down"
		default:
			http.Error(w, "peering: no member", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(st)
	}))
	defer srv.Close()
	admin := strings.TrimPrefix(srv.URL, "http://")

	var out, errOut strings.Builder
	code := run(context.Background(), []string{"peers", "--admin", admin}, nil, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"self gw1  epoch 3/abcd  serving", "gw2", "up", "180µs", "gw3", "connection refused", "forwards 12", "moved out 5",
		"gw3 is restarting: requests for its sessions are held for up to 5s", "held for restarts 7"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"peers", "down", "gw3", "--admin", admin}, nil, &out, &errOut); code != exitOK || downed != "gw3" {
		t.Fatalf("peers down: exit %d, posted %q", code, downed)
	}
	if !strings.Contains(out.String(), "down") {
		t.Fatalf("new view not printed:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"peers", "down", "gw9", "--admin", admin}, nil, &out, &errOut); code != exitFail {
		t.Fatalf("an unknown member: exit %d", code)
	}
	if code := run(context.Background(), []string{"peers"}, nil, &out, &errOut); code != exitUsage {
		t.Fatalf("without --admin: exit %d", code)
	}
}
