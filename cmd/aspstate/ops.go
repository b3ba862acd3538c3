package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

const (
	defaultServer = "127.0.0.1:42424"
	defaultApp    = "/LM/W3SVC/1/ROOT/App"
)

// targetFlags select the request target: the .NET 4.x target for --app and a
// session id argument, or --key (a decoded key, encoded as the client does),
// or --target (sent as is).
type targetFlags struct {
	app, key, target string
}

func (t *targetFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.app, "app", defaultApp, "application id (HttpRuntime.AppDomainAppId) the session id belongs to")
	fs.StringVar(&t.key, "key", "", "decoded session key, URL-encoded like the .NET client (instead of a session id)")
	fs.StringVar(&t.target, "target", "", "raw request target, sent unchanged (instead of a session id)")
}

func (t *targetFlags) resolve(args []string) (string, error) {
	n := len(args)
	if t.key != "" {
		n++
	}
	if t.target != "" {
		n++
	}
	switch {
	case n == 0:
		return "", fmt.Errorf("need a session id, --key or --target")
	case n > 1 || len(args) > 1:
		return "", fmt.Errorf("give exactly one of: a session id, --key, --target")
	case t.target != "":
		return t.target, nil
	case t.key != "":
		return wire.EncodeTarget(t.key), nil
	default:
		return wire.ClientTarget(t.app, args[0]), nil
	}
}

// runOp runs get, put, lock, unlock, delete and touch: one request, its
// response printed. Exit status 2 on a transport error, 3 on a 404, 4 on a
// 423, 1 on a 400 or any other status.
func runOp(ctx context.Context, cmd string, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate "+cmd, pflag.ContinueOnError)
	server := fs.String("server", envOr("ASPSTATE_SERVER", defaultServer), "state server host:port (default from ASPSTATE_SERVER)")
	var tf targetFlags
	tf.register(fs)
	netTimeout := fs.Duration("network-timeout", 10*time.Second, "timeout for connecting and for the round trip (stateNetworkTimeout)")
	raw := fs.Bool("raw", false, "write the body unchanged to stdout (status and headers go to stderr)")
	var timeout, cookie, extra *int32
	var file *string
	switch cmd {
	case "put":
		timeout = fs.Int32("timeout", locking.DefaultTimeout, "Timeout header in minutes (-1: omit the header)")
		cookie = fs.Int32("cookie", 0, "LockCookie header (omitted unless given)")
		extra = fs.Int32("extra-flags", 0, "ExtraFlags header, 1 = uninitialized item (omitted unless given)")
		file = fs.StringP("file", "f", "-", "file holding the body (- = stdin)")
	case "unlock":
		cookie = fs.Int32("cookie", 0, "LockCookie header (required; or --force ID to free a lock through the operators' API)")
	case "delete":
		cookie = fs.Int32("cookie", 0, "LockCookie header (omitted unless given)")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aspstate %s [flags] SESSIONID|--key KEY|--target TARGET\n", cmd)
		switch cmd {
		case "unlock":
			fmt.Fprint(fs.Output(), "       aspstate unlock --force ID [--why TEXT]   frees a lock through the operators' API (aspstate unlock --force --help)\n")
		case "delete":
			fmt.Fprint(fs.Output(), "With --admin ADDR or ASPSTATE_ADMIN, and none of --server, --cookie, --app, --key, --target,\n"+
				"delete goes through the operators' API instead (aspstate delete --admin ADDR --help).\n")
		}
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	target, err := tf.resolve(fs.Args())
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate %s: %v\n", cmd, err)
		return exitUsage
	}
	req := wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: *server}
	switch cmd {
	case "lock":
		req.Exclusive = wire.ExclusiveAcquire
	case "unlock":
		if !fs.Changed("cookie") {
			fmt.Fprintln(s.stderr, "aspstate unlock: --cookie is required (or --force ID to free the lock through the operators' API)")
			return exitUsage
		}
		req.Exclusive = wire.ExclusiveRelease
		req.LockCookie = locking.N(*cookie)
	case "delete":
		req.Method = wire.MethodDelete
		if fs.Changed("cookie") {
			req.LockCookie = locking.N(*cookie)
		}
	case "touch":
		req.Method = wire.MethodHead
	case "put":
		req.Method = wire.MethodPut
		if *timeout != -1 {
			req.Timeout = locking.N(*timeout)
		}
		if fs.Changed("cookie") {
			req.LockCookie = locking.N(*cookie)
		}
		if fs.Changed("extra-flags") {
			req.ExtraFlags = locking.N(*extra)
		}
		body, err := readBody(*file, s.stdin)
		if err != nil {
			fmt.Fprintf(s.stderr, "aspstate put: %v\n", err)
			return exitFail
		}
		req.Body = body
	}

	c, err := dialClient(ctx, *server, *netTimeout)
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate %s: %v\n", cmd, err)
		return exitUnreachable
	}
	defer c.Close()
	var resp wire.ClientResponse
	if err := c.roundTrip(&req, &resp); err != nil {
		fmt.Fprintf(s.stderr, "aspstate %s: %s: %v\n", cmd, *server, err)
		return exitUnreachable
	}
	headOut := s.stdout
	if *raw {
		headOut = s.stderr
	}
	printResponse(headOut, &resp)
	if *raw {
		s.stdout.Write(resp.Body)
	} else {
		printBody(s.stdout, resp.Body)
	}
	return statusExit(resp.Status)
}

// statusExit maps a protocol status to the exit status: 200 succeeds, 404
// (no such session) and 423 (locked) have their own statuses so that a
// script can tell them from success.
func statusExit(status int) int {
	switch status {
	case 200:
		return exitOK
	case 404:
		return exitNotFound
	case 423:
		return exitLocked
	default:
		return exitFail
	}
}

// envOr is the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func readBody(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}
