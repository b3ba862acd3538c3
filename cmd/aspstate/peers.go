package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/peering"
)

const peersUsage = `Usage:
  aspstate peers [--admin ADDR]            show the farm's view, links and hand-off
  aspstate peers down ID [--admin ADDR]    declare member ID dead: its range takes new sessions

--admin (or ASPSTATE_ADMIN) is a gateway's operators' listener (admin.listen);
the token (needed for peers down, and off loopback) comes from --token-file F
or ASPSTATE_ADMIN_TOKEN.
`

// runPeers asks a gateway's operators' listener for its peering status, or
// tells it that a member is down.
func runPeers(ctx context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate peers", pflag.ContinueOnError)
	var af adminFlags
	af.register(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	fs.Usage = func() { fmt.Fprint(fs.Output(), peersUsage); fs.PrintDefaults() }
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprint(s.stderr, "aspstate peers: "+err.Error()+"\n\n"+peersUsage)
		return exitUsage
	}
	switch rest := fs.Args(); {
	case len(rest) == 0:
		var st peering.Status
		if err := c.call(ctx, http.MethodGet, "/peers", nil, &st); err != nil {
			return fail(s, "aspstate peers", err)
		}
		if *asJSON {
			enc := json.NewEncoder(s.stdout)
			enc.SetIndent("", "  ")
			enc.Encode(st)
			return exitOK
		}
		printPeers(s.stdout, &st)
		return exitOK
	case len(rest) == 2 && rest[0] == "down":
		var st peering.Status
		if err := c.call(ctx, http.MethodPost, "/peers/down", url.Values{"member": {rest[1]}}, &st); err != nil {
			return fail(s, "aspstate peers down", err)
		}
		fmt.Fprintf(s.stdout, "%s declared down; new view:\n", rest[1])
		printPeers(s.stdout, &st)
		return exitOK
	default:
		fmt.Fprint(s.stderr, peersUsage)
		return exitUsage
	}
}

func printPeers(w io.Writer, st *peering.Status) {
	serving := "serving"
	if !st.Serving || st.NotServing != "" {
		serving = "NOT serving (" + st.NotServing + ")"
	}
	fmt.Fprintf(w, "self %s  epoch %s  %s  hand-off in: %s  out: %s\n", st.Self, st.Epoch, serving,
		doneWord(st.HandoffIn), doneWord(st.HandoffOut))
	if st.Automatic {
		lease := "held"
		if !st.Lease {
			lease = "NOT held"
		}
		fmt.Fprintf(w, "lease %s (%d of %d needed answered within %s)  dead_after %s\n", lease,
			st.LeaseHolders, st.LeaseMajority, st.LeaseFor, st.DeadAfter)
	} else {
		fmt.Fprintln(w, "automatic failover off (fewer than 3 members): declare a dead member with `aspstate peers down ID`")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tADDRESS\tSTATE\tVERSION\tLINK\tRTT\tHEARD\tVOTED DOWN BY\tVOTES DOWN\tLAST ERROR")
	for _, m := range st.Members {
		link := "down"
		switch {
		case m.Self:
			link = "(self)"
		case m.LinkUp:
			link = "up"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Addr, m.State, m.Version, link, m.RTT,
			m.HeardAgo, strings.Join(m.VotesDown, ","), strings.Join(m.Suspects, ","), m.LastError)
	}
	tw.Flush()
	fmt.Fprintf(w, "forwards %d (failed %d)  served for peers %d  not-owner retries %d  moved out %d  moved in %d  pulls %d\n",
		st.Forwards, st.ForwardFailures, st.Served, st.NotOwner, st.MovedOut, st.MovedIn, st.Pulls)
}

func doneWord(b bool) string {
	if b {
		return "complete"
	}
	return "in progress"
}
