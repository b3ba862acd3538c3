package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/backends/recordcodec"
	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/sessionformat"
)

const decodeUsage = `Usage:
  aspstate decode --file F [--json]             a blob in a file (F = - for stdin)
  aspstate decode --admin ADDR [--json] ID      a stored session, through the operators' API
  aspstate decode [--server ADDR] [--app APP] [--json] SESSIONID
  aspstate decode [--server ADDR] [--json] --key KEY | --target TARGET

Shows what an ASP.NET web server stored in a session: the timeout, then one
line per item, "name (type): value", and the static objects. Values of the
primitive types are shown; an object written by BinaryFormatter is shown as
its class name and size. A compressed blob (compressionEnabled) is inflated.

With a session id the blob is read from a state server (--server, or
$ASPSTATE_SERVER, else 127.0.0.1:42424) with a plain Get, as a read-only page
does: no lock is taken or left. Like any Get it slides the session's expiry,
and if the session was created uninitialized (cookieless) and not yet read,
it clears that mark, which the web server would otherwise have seen.
The session id is not printed.

With --admin ADDR (or $ASPSTATE_ADMIN when --server is not given) the blob is
read through the gateway's operators' API (GET /api/session/blob, with the
token from --token-file or $ASPSTATE_ADMIN_TOKEN) instead: nothing changes on
the server (the expiry does not slide, the uninitialized mark stays) and a
locked session can be read too. ID is the session's key as "aspstate
sessions" lists it (or --key KEY, --target TARGET, or a session id with
--app APP).

Exit status: 0 decoded; 1 usage error, unreadable file or not a session blob;
2 the server cannot be reached; 3 no such session (404); 4 locked (423);
5 the API refused the token (401/403).

Flags:
`

// runDecode decodes a session blob from a file or from a state server.
func runDecode(ctx context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate decode", pflag.ContinueOnError)
	file := fs.StringP("file", "f", "", "decode the blob in this file instead (- = stdin)")
	server := fs.String("server", envOr("ASPSTATE_SERVER", defaultServer), "state server host:port; $ASPSTATE_SERVER sets the default")
	var tf targetFlags
	tf.register(fs)
	netTimeout := fs.Duration("network-timeout", 10*time.Second, "timeout for connecting and for the round trip")
	asJSON := fs.Bool("json", false, "print the decoded session as JSON")
	var af adminFlags
	fs.StringVar(&af.addr, "admin", os.Getenv("ASPSTATE_ADMIN"), "read through the gateway's operators' API at this address (admin.listen; default from ASPSTATE_ADMIN unless --server is given): no side effects")
	fs.StringVar(&af.tokenFile, "token-file", "", "with --admin: file whose first line is the API token; default: ASPSTATE_ADMIN_TOKEN")
	fs.SetOutput(s.stdout) // only --help writes to it
	fs.Usage = func() { fmt.Fprint(s.stdout, decodeUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(s.stderr, "aspstate decode: %v\nRun \"aspstate decode --help\" for usage.\n", err)
		return exitFail
	}

	var blob []byte
	var uninitialized bool
	viaAPI := fs.Changed("admin") || (af.addr != "" && !fs.Changed("server"))
	if viaAPI && fs.Changed("server") {
		fmt.Fprintln(s.stderr, "aspstate decode: give either --admin (the operators' API) or --server (the protocol), not both")
		return exitFail
	}
	if fs.Changed("file") {
		if len(fs.Args()) > 0 || tf.key != "" || tf.target != "" {
			fmt.Fprintln(s.stderr, "aspstate decode: give either --file or a session id (--key, --target), not both")
			return exitFail
		}
		b, err := readBody(*file, s.stdin)
		if err != nil {
			fmt.Fprintf(s.stderr, "aspstate decode: %v\n", err)
			return exitFail
		}
		blob = b
	} else if viaAPI {
		key, err := tf.key4API(fs)
		if err != nil {
			fmt.Fprintf(s.stderr, "aspstate decode: %v (or --file F)\nRun \"aspstate decode --help\" for usage.\n", err)
			return exitFail
		}
		af.timeout = *netTimeout
		c, err := af.client()
		if err != nil {
			fmt.Fprintf(s.stderr, "aspstate decode: %v\n", err)
			return exitFail
		}
		b, flags, err := fetchBlobAPI(ctx, c, key)
		if err != nil {
			return fail(s, "aspstate decode", err)
		}
		blob, uninitialized = b, flags
	} else {
		target, err := tf.resolve(fs.Args())
		if err != nil {
			fmt.Fprintf(s.stderr, "aspstate decode: %v (or --file F)\nRun \"aspstate decode --help\" for usage.\n", err)
			return exitFail
		}
		b, flags, code := fetchBlob(ctx, *server, target, *netTimeout, s)
		if code != exitOK {
			return code
		}
		blob, uninitialized = b, flags
	}

	sess, err := sessionformat.Decode(blob)
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate decode: %d bytes that do not decode: %v\n", len(blob), err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			*sessionformat.Session
			Uninitialized bool `json:"uninitialized,omitempty"`
		}{sess, uninitialized})
		return exitOK
	}
	printSession(s.stdout, sess, uninitialized, viaAPI)
	return exitOK
}

// key4API is the store key to ask the operators' API for: the ID as listed
// (the argument), --key, the key of --target, or a session id with an
// explicit --app.
func (t *targetFlags) key4API(fs *pflag.FlagSet) (string, error) {
	if !fs.Changed("app") && t.key == "" && t.target == "" {
		switch fs.NArg() {
		case 1:
			return fs.Arg(0), nil
		case 0:
			return "", errors.New("need a session ID (as aspstate sessions lists it), --key or --target")
		}
		return "", errors.New("give exactly one session ID")
	}
	target, err := t.resolve(fs.Args())
	if err != nil {
		return "", err
	}
	return wire.TargetKey(target), nil
}

// fetchBlobAPI reads a session's blob through the operators' API, which
// neither slides its expiry nor clears its uninitialized mark, and tells
// whether that mark is set (GET /api/session, likewise without effects).
func fetchBlobAPI(ctx context.Context, c *adminClient, key string) (blob []byte, uninitialized bool, err error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	q := url.Values{"id": {key}}
	var e sessionEntry
	if err := c.call(ctx, "GET", "/api/session", q, &e); err != nil {
		return nil, false, err
	}
	resp, err := c.do(ctx, "GET", "/api/session/blob", q, nil, "")
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	blob, err = io.ReadAll(io.LimitReader(resp.Body, recordcodec.MaxDataLen+1))
	if err != nil {
		return nil, false, &unreachableError{fmt.Errorf("reading the blob: %w", err)}
	}
	if len(blob) > recordcodec.MaxDataLen {
		return nil, false, fmt.Errorf("the blob is larger than %d bytes", recordcodec.MaxDataLen)
	}
	return blob, e.Uninitialized, nil
}

// fetchBlob reads a session with a plain Get: no lock is taken. It returns
// the body and whether the answer carried ActionFlags: 1, or an exit status
// other than exitOK after printing why. Nothing it prints names the session.
func fetchBlob(ctx context.Context, server, target string, timeout time.Duration, s streams) (body []byte, uninitialized bool, code int) {
	c, err := dialClient(ctx, server, timeout)
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate decode: %v\n", err)
		return nil, false, exitUnreachable
	}
	defer c.Close()
	req := wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: server}
	var resp wire.ClientResponse
	if err := c.roundTrip(&req, &resp); err != nil {
		fmt.Fprintf(s.stderr, "aspstate decode: %s: %v\n", server, err)
		return nil, false, exitUnreachable
	}
	switch resp.Status {
	case 200:
		return resp.Body, resp.ActionFlags.Valid && resp.ActionFlags.Value == 1, exitOK
	case 404:
		fmt.Fprintf(s.stderr, "aspstate decode: %s: no such session (404)\n", server)
		return nil, false, exitNotFound
	case 423:
		var b strings.Builder
		fmt.Fprintf(&b, "aspstate decode: %s: the session is locked (423)", server)
		if resp.LockAge.Valid {
			fmt.Fprintf(&b, ", for %d s", resp.LockAge.Value)
		}
		if resp.HasLockDate {
			fmt.Fprintf(&b, ", since %s", formatLockDate(resp.LockDate))
		}
		if resp.LockCookie.Valid {
			fmt.Fprintf(&b, ", cookie %d", resp.LockCookie.Value)
		}
		b.WriteString("; a Get cannot read a locked session\n")
		io.WriteString(s.stderr, b.String())
		return nil, false, exitLocked
	default:
		fmt.Fprintf(s.stderr, "aspstate decode: %s: answered %d %s\n", server, resp.Status, appendPrintable(nil, resp.Reason))
		return nil, false, exitFail
	}
}

// printSession writes the session for people: a few header lines, then
// "name (type): value" per item and per static object, indented.
func printSession(w io.Writer, s *sessionformat.Session, uninitialized, viaAPI bool) {
	fmt.Fprintf(w, "Timeout: %d min\n", s.Timeout)
	if s.Compressed {
		fmt.Fprintf(w, "Size: %d bytes, compressed (deflate) from %d\n", s.StoredSize, s.Size)
	} else {
		fmt.Fprintf(w, "Size: %d bytes\n", s.Size)
	}
	switch {
	case uninitialized && viaAPI:
		fmt.Fprintln(w, "Uninitialized: yes (read through the operators' API: the mark is still set)")
	case uninitialized:
		fmt.Fprintln(w, "Uninitialized: yes (ActionFlags: 1; this Get cleared the mark on the server)")
	}
	fmt.Fprintf(w, "Items: %d\n", len(s.Items))
	for _, it := range s.Items {
		name := displayName(it.Name)
		if it.NullKey {
			name = "(null key)"
		}
		fmt.Fprintf(w, "  %s (%s): %s\n", name, it.Value.TypeName, it.Value.Text)
	}
	if s.HasStaticObjects {
		fmt.Fprintf(w, "Static objects: %d\n", s.StaticObjectCount)
		for _, o := range s.StaticObjects {
			if o.Value != nil {
				fmt.Fprintf(w, "  %s (%s): %s\n", displayName(o.Name), o.Value.TypeName, o.Value.Text)
				continue
			}
			late := ""
			if o.LateBound {
				late = ", late bound"
			}
			fmt.Fprintf(w, "  %s (not created): %s%s\n", displayName(o.Name), displayName(o.DeclaredType), late)
		}
		if s.StaticObjectsIncomplete {
			fmt.Fprintf(w, "  ... %d more not shown: a BinaryFormatter object that is not the last static object has no length\n",
				int(s.StaticObjectCount)-len(s.StaticObjects))
		}
	}
	if s.ExtraBytes > 0 {
		fmt.Fprintf(w, "Note: %d bytes after the end of the session (the web server ignores them)\n", s.ExtraBytes)
	}
}

// displayName shows a name from a blob as is when it is plain, otherwise
// quoted, so that it can neither break the line nor pass for something else.
func displayName(n string) string {
	if n == "" || n[0] == '"' || n[0] == '(' || strings.TrimSpace(n) != n || strings.Contains(n, " (") {
		return strconv.Quote(n)
	}
	for _, c := range n {
		if !unicode.IsPrint(c) || c == unicode.ReplacementChar {
			return strconv.Quote(n)
		}
	}
	return n
}
