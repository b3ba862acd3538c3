package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/frontend/wire"
)

// pingKey is the session key ping asks about; no web server uses it.
const pingKey = "aspstated-probe"

// runPing asks the state server about a session nobody has (a ResetTimeout,
// which changes nothing) and exits 0 when it answers the protocol at all (200
// or 404), 1 otherwise: a health check for containers and scripts, where
// Docker reserves every other exit status.
func runPing(ctx context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate ping", pflag.ContinueOnError)
	server := fs.String("server", envOr("ASPSTATE_SERVER", defaultServer), "state server host:port (default from ASPSTATE_SERVER)")
	netTimeout := fs.Duration("network-timeout", 3*time.Second, "timeout for connecting and for the round trip")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: aspstate ping [--server ADDR] [--network-timeout D]\n"+
			"Exit status 0 when the server answers the protocol, 1 otherwise (a health check).\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(s.stderr, "aspstate ping: takes no arguments")
		return exitFail
	}
	c, err := dialClient(ctx, *server, *netTimeout)
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate ping: %v\n", err)
		return exitFail
	}
	defer c.Close()
	req := wire.ClientRequest{Method: wire.MethodHead, Target: wire.EncodeTarget(pingKey), Host: *server}
	var resp wire.ClientResponse
	if err := c.roundTrip(&req, &resp); err != nil {
		fmt.Fprintf(s.stderr, "aspstate ping: %s: %v\n", *server, err)
		return exitFail
	}
	if resp.Status != 200 && resp.Status != 404 {
		fmt.Fprintf(s.stderr, "aspstate ping: %s answered %d\n", *server, resp.Status)
		return exitFail
	}
	fmt.Fprintf(s.stdout, "%s answers (%d)\n", *server, resp.Status)
	return exitOK
}
