package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
)

// Exit statuses, as docs/admin-api.md lists them for scripts.
const (
	exitOK          = 0
	exitFail        = 1 // a 400, a failed check, bench errors, anything else
	exitUsage       = 1 // bad arguments (the same status as other failures)
	exitUnreachable = 2 // could not reach the server or the API (502/503: it could not reach its store or peer)
	exitNotFound    = 3 // 404: no such session
	exitLocked      = 4 // 423 locked, or 409 the lock changed under a force-unlock or delete
	exitRefused     = 5 // 401/403: no or wrong token, or none configured
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
	case "unlock":
		if hasFlag(rest, "force") {
			return runForceUnlock(ctx, rest, s)
		}
		return runOp(ctx, cmd, rest, s)
	case "delete":
		if deleteViaAPI(rest) {
			return runAPIDelete(ctx, rest, s)
		}
		return runOp(ctx, cmd, rest, s)
	case "get", "put", "lock", "touch":
		return runOp(ctx, cmd, rest, s)
	case "ping":
		return runPing(ctx, rest, s)
	case "sessions":
		return runSessions(ctx, rest, s)
	case "inspect":
		return runInspect(ctx, rest, s)
	case "export":
		return runExport(ctx, rest, s)
	case "import":
		return runImport(ctx, rest, s)
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
		if len(rest) == 1 && rest[0] != "help" && rest[0] != "-h" && rest[0] != "--help" {
			return run(ctx, []string{rest[0], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "aspstate: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

const usage = `aspstate: the operator's tool for ASP.NET state servers (TCP 42424)

Protocol (--server ADDR or ASPSTATE_SERVER, default 127.0.0.1:42424):
  aspstate get    [flags] SESSIONID     Get (read-only page)
  aspstate lock   [flags] SESSIONID     GetExclusive (read-write page)
  aspstate unlock [flags] --cookie N SESSIONID   ReleaseExclusive
  aspstate put    [flags] SESSIONID     Set; body from --file or stdin
  aspstate delete [flags] SESSIONID     Remove (Session.Abandon)
  aspstate touch  [flags] SESSIONID     ResetTimeout (HEAD)
  aspstate ping   [--server ADDR]       exit 0 if the server answers the protocol, else 1 (health checks)
  aspstate decode [flags] SESSIONID     a session's items, read with a Get (no lock)
  aspstate decode --file F              the same for a blob in a file (- = stdin)

Session tools (--admin ADDR or ASPSTATE_ADMIN, a gateway's admin.listen;
token from --token-file F or ASPSTATE_ADMIN_TOKEN):
  aspstate sessions [--locked] [--older-than D] [--prefix P] [--limit N] [--json]
  aspstate inspect ID [--json]          one session's record (not its blob)
  aspstate unlock --force ID [--why TEXT] [--who W]   free a lock whose request died
  aspstate delete --admin ADDR ID [--why TEXT]        delete a session, locked or not
  aspstate export [--out F]             every session, with lock state and lifetime (stdout by default)
  aspstate import [--in F] [--replace]  load an export (stdin by default); existing sessions kept unless --replace
  aspstate export|import --bbolt FILE | --badger DIR   offline, on a store no server has open

Tools:
  aspstate bench  [flags]               protocol load generator
  aspstate ceiling --listen ADDR        fixed-response server: the yardstick for bench
  aspstate tap --listen ADDR --upstream ADDR   logging relay between a web server and a state server
  aspstate peers [down ID] --admin ADDR        peering: the farm's view and links; declare a member dead
  aspstate certs --dir DIR --members gw1,gw2   CA and certificates for peer links

Instead of SESSIONID, --key gives the decoded session key and --target the raw
request target. Run "aspstate COMMAND --help" for the flags of a command.

Exit status: 0 success; 1 usage or other failure; 2 could not reach the server
or the API (or it could not reach its store: 502/503); 3 not found (404);
4 locked (423) or the lock changed (409); 5 refused (401/403).
`

// parseFlags parses args: help (-h, --help) goes to stdout with status 0,
// errors to stderr with exitUsage. It returns done=true with the exit status
// when the command must not go on. Afterwards fs's output is stderr, so a
// command's own fs.Usage() call for a usage error goes there.
//
// A command's fs.Usage must write to fs.Output().
func parseFlags(fs *pflag.FlagSet, args []string, s streams) (code int, done bool) {
	fs.SetOutput(s.stdout) // with ContinueOnError pflag writes only the help
	err := fs.Parse(args)
	fs.SetOutput(s.stderr)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		fmt.Fprintf(s.stderr, "%s: %v\nRun \"%s --help\" for its flags.\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	return exitOK, false
}

// hasFlag reports whether args hold --name (or --name=...) before a "--".
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}
