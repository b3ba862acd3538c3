package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // transport error, 400, bench errors
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// streams are the standard streams a subcommand uses, so tests can run it
// in-process.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := streams{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "get", "put", "lock", "unlock", "delete", "touch":
		return runOp(ctx, cmd, rest, s)
	case "bench":
		return runBench(ctx, rest, s)
	case "ceiling":
		return runCeiling(ctx, rest, s)
	case "tap":
		return runTap(ctx, rest, s)
	case "peers":
		return runPeers(ctx, rest, s)
	case "certs":
		return runCerts(ctx, rest, s)
	case "decode":
		return runDecode(ctx, rest, s)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "aspstate: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

const usage = `aspstate: the operator's tool for ASP.NET state servers (TCP 42424)

Usage:
  aspstate get    [flags] SESSIONID     Get (read-only page)
  aspstate lock   [flags] SESSIONID     GetExclusive (read-write page)
  aspstate unlock [flags] --cookie N SESSIONID
  aspstate put    [flags] SESSIONID     Set; body from --file or stdin
  aspstate delete [flags] SESSIONID     Remove (Session.Abandon)
  aspstate touch  [flags] SESSIONID     ResetTimeout (HEAD)
  aspstate decode [flags] SESSIONID     a session's items, read with a Get (no lock)
  aspstate decode --file F              the same for a blob in a file (- = stdin)
  aspstate bench  [flags]               protocol load generator
  aspstate ceiling --listen ADDR        fixed-response server: the yardstick for bench
  aspstate tap --listen ADDR --upstream ADDR   logging relay between a web server and a state server
  aspstate peers [down ID] --admin ADDR        peering: the farm's view and links; declare a member dead
  aspstate certs --dir DIR --members gw1,gw2   CA and certificates for peer links

Instead of SESSIONID, --key gives the decoded session key and --target the raw
request target. Run "aspstate COMMAND --help" for the flags of a command.
`

// parseFlags parses args, printing errors and help to stderr. It returns
// done=true with the exit status when the command must not go on.
func parseFlags(fs *pflag.FlagSet, args []string, s streams) (code int, done bool) {
	fs.SetOutput(s.stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	return exitOK, false
}
