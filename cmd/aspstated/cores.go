package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aspstate/aspstate/peering"
)

// shareCores gives this gateway its share of the host's processors when
// other members of its farm listen on this host too (peering/cores.go says
// why), unless GOMAXPROCS is set in the environment: then the operator
// chose. env.gomaxprocs is runtime.GOMAXPROCS in the real server; tests that
// run the server inside their own process leave it nil.
func shareCores(ctx context.Context, env runEnv, cfg *Config, log *slog.Logger) {
	if env.gomaxprocs == nil || !cfg.Peering.Enabled() || gomaxprocsSet(env.environ) {
		return
	}
	members, err := peering.ParseMembers(cfg.Peering.Members)
	if err != nil {
		return // peering.New reports it
	}
	// Member names resolve by DNS; a slow resolver must not hold the start.
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	here := peering.MembersHere(rctx, members)
	procs := env.gomaxprocs(0)
	if share := peering.ShareOfCores(procs, here); share < procs {
		env.gomaxprocs(share)
		log.Info("other members of the farm listen on this host: this gateway uses its share of the processors (set GOMAXPROCS to choose)",
			"members_here", here, "gomaxprocs", share, "of", procs)
	}
}

func gomaxprocsSet(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return true
		}
	}
	return false
}
