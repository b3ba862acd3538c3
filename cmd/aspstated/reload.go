package main

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sync/atomic"

	"github.com/aspstate/aspstate/cmd/aspstated/admin"
	"github.com/aspstate/aspstate/frontend"
)

// What SIGHUP reloads: the configuration is read again from the same
// sources as at start (the file, the environment the process started with,
// the flags) and validated as at start. If it is invalid the server keeps
// running on the configuration it has and logs why. Otherwise it applies
// what can change without dropping a connection or a session:
//
//	log.level              at once
//	allowed_networks       for connections accepted from now on
//	admin.token_file       read again (even when its name did not change, so
//	                       that a new token in the same file takes effect)
//	peering.drain_on_stop  for the next SIGTERM (drain, or announce a restart)
//
// Every other key that changed is logged by name (never by value: some are
// secrets) as needing a restart. Peering certificates need no signal: the
// peer links reload their files by themselves. SIGHUP never stops the server.

// reloadTargets are the components whose settings SIGHUP can change.
type reloadTargets struct {
	level       *slog.LevelVar
	srv         *frontend.Server
	adm         *admin.Server // nil without admin.listen
	drainOnStop *atomic.Bool  // nil: not applied
}

// watchReload reloads on every value from hup until ctx ends.
func watchReload(ctx context.Context, hup <-chan os.Signal, env runEnv, started *Config, t reloadTargets, log *slog.Logger) {
	// cur holds the settings in effect, owned by this goroutine; started,
	// which run keeps reading, is not written.
	curLevel := started.Log.Level
	curNets := started.Server.AllowedNetworks
	curDrain := started.Peering.DrainOnStop
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next, _, _, _, err := loadConfig(env.args, env.environ)
		if err == nil {
			err = next.Validate()
		}
		if err != nil {
			log.Error("reload (SIGHUP): configuration not applied; still running on the previous one", "err", err)
			continue
		}
		applied := []string{}
		newLevel := next.Log.Level != curLevel
		if newLevel {
			curLevel = next.Log.Level
			applied = append(applied, "log.level")
		}
		if !slices.Equal(next.Server.AllowedNetworks, curNets) {
			t.srv.SetAllowedNetworks(next.Server.AllowedNetworks)
			curNets = next.Server.AllowedNetworks
			applied = append(applied, "allowed_networks")
		}
		if t.adm != nil {
			// Validate has read the file already; a failure here is a
			// file changed in between.
			if err := t.adm.SetTokenFile(next.Admin.TokenFile); err != nil {
				log.Error("reload (SIGHUP): the admin token was not read again; the previous one stays", "err", err)
			} else {
				applied = append(applied, "admin.token_file")
			}
		}
		if next.Peering.DrainOnStop != curDrain && t.drainOnStop != nil {
			t.drainOnStop.Store(next.Peering.DrainOnStop)
			curDrain = next.Peering.DrainOnStop
			applied = append(applied, "peering.drain_on_stop")
		}
		restart := []string{}
		nf := fields(next)
		for i, f := range fields(started) {
			switch f.key {
			case "log.level", "allowed_networks", "admin.token_file", "peering.drain_on_stop":
				continue
			}
			if !reflect.DeepEqual(f.v.Interface(), nf[i].v.Interface()) {
				restart = append(restart, f.key)
			}
		}
		log.Info("reload (SIGHUP): configuration applied", "applied", applied, "changed_needing_restart", restart,
			"allowed_networks", prefixes(curNets), "log.level", curLevel, "peering.drain_on_stop", curDrain)
		if newLevel { // after the line above, so that it shows even when the level rises
			t.level.UnmarshalText([]byte(curLevel))
		}
	}
}

func prefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
