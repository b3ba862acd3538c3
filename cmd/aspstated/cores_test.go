package main

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/peering/peeringtest"
)

// shareCores sets this gateway's share of the processors when members of
// its farm listen on this host, and leaves GOMAXPROCS to an operator who
// set it.
func TestShareCoresOfMembersOnThisHost(t *testing.T) {
	run := func(members []string, environ []string) (set []int, logs string) {
		var buf bytes.Buffer
		cfg := &Config{}
		cfg.Peering.Self = "gw1"
		cfg.Peering.Members = members
		procs := 2
		env := runEnv{environ: environ, gomaxprocs: func(n int) int {
			prev := procs
			if n > 0 {
				set = append(set, n)
				procs = n
			}
			return prev
		}}
		shareCores(context.Background(), env, cfg, slog.New(slog.NewTextHandler(&buf, nil)))
		return set, buf.String()
	}
	local := []string{"gw1=127.0.0.1:1", "gw2=127.0.0.1:2", "gw3=localhost:3"}
	set, logs := run(local, []string{"PATH=/usr/bin"})
	if len(set) != 1 || set[0] != 1 {
		t.Fatalf("three members here on 2 processors: set %v, want [1]", set)
	}
	if !strings.Contains(logs, "members_here=3 gomaxprocs=1 of=2") {
		t.Fatalf("log does not say what it did: %s", logs)
	}
	if set, logs := run(local, []string{"GOMAXPROCS=2"}); len(set) != 0 || logs != "" {
		t.Fatalf("GOMAXPROCS set by the operator, yet set %v, logged %q", set, logs)
	}
	// Members at the others' addresses: gw2 and gw3 on hosts of their own.
	far := []string{"gw1=127.0.0.1:1"}
	ips, err := peeringtest.AddrsElsewhere(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		far = append(far, "gw"+strconv.Itoa(len(far)+1)+"="+ip+":42425")
	}
	if set, logs := run(far, nil); len(set) != 0 || logs != "" {
		t.Fatalf("only this member here, yet set %v, logged %q", set, logs)
	}
	// Tests running the server in their own process pass no gomaxprocs.
	cfg := &Config{}
	cfg.Peering.Self, cfg.Peering.Members = "gw1", local
	shareCores(context.Background(), runEnv{}, cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
}
