package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

// sessionEntry is one session as GET /api/sessions and /api/session
// describe it (docs/admin-api.md).
type sessionEntry struct {
	ID            string  `json:"id"`
	KeyHash       string  `json:"key_hash"`
	Size          int64   `json:"size"`
	Timeout       int32   `json:"timeout"`
	ExpiresIn     float64 `json:"expires_in_seconds"`
	Uninitialized bool    `json:"uninitialized"`
	Locked        bool    `json:"locked"`
	Cookie        int32   `json:"cookie"`
	LockDate      string  `json:"lock_date"`
	LockAge       float64 `json:"lock_age_seconds"`
}

// listAnswerTimeout bounds the wait for each page of sessions unless
// --network-timeout is given.
const listAnswerTimeout = 10 * time.Minute

// apiMaxPage is the largest limit GET /api/sessions accepts.
const apiMaxPage = 1000

// newAdminFlagSet is the flag set of a session-tool command.
func newAdminFlagSet(name, usage string, s streams) (*pflag.FlagSet, *adminFlags) {
	fs := pflag.NewFlagSet("aspstate "+name, pflag.ContinueOnError)
	var af adminFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs, &af
}

// adminClientOr prints a usage error for a missing --admin.
func adminClientOr(fs *pflag.FlagSet, af *adminFlags, s streams) (*adminClient, bool) {
	c, err := af.client()
	if err != nil {
		fmt.Fprintf(s.stderr, "%s: %v\n", fs.Name(), err)
		return nil, false
	}
	return c, true
}

// fail prints err for command name and returns its exit status.
func fail(s streams, name string, err error) int {
	fmt.Fprintf(s.stderr, "%s: %v\n", name, err)
	if errors.Is(err, context.Canceled) {
		return exitFail
	}
	return exitCode(err)
}

const sessionsUsage = `Usage: aspstate sessions [--locked] [--older-than D] [--prefix P] [--limit N] [--json]

Lists sessions through the operators' API: with --locked or --older-than the
oldest lock first, otherwise by ID. --older-than D (a Go duration: 30s, 5m)
lists locks held at least D. --prefix P keeps keys that start with P (the
application path, e.g. /LM/W3SVC/1/ROOT/shop). The count of all matches goes
to stderr when more matched than were listed. Each page (up to 1000 sessions)
is one walk of the store, answered when it ends: unless --network-timeout is
given, the wait for each is bounded by 10 minutes, not 30 s.

`

func runSessions(ctx context.Context, args []string, s streams) int {
	fs, af := newAdminFlagSet("sessions", sessionsUsage, s)
	locked := fs.Bool("locked", false, "locked sessions only, oldest lock first")
	olderThan := fs.Duration("older-than", 0, "locks held at least this long (implies --locked)")
	prefix := fs.String("prefix", "", "keys starting with this (the application path)")
	limit := fs.Int("limit", 100, "sessions listed at most (0: all)")
	asJSON := fs.Bool("json", false, `print {"total":N,"sessions":[...]} as the API describes them`)
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if fs.NArg() > 0 || *limit < 0 || *olderThan < 0 {
		fmt.Fprintf(s.stderr, "aspstate sessions: unexpected %s\n", describeBad(fs.Args(), *limit, *olderThan))
		return exitUsage
	}
	c, ok := adminClientOr(fs, af, s)
	if !ok {
		return exitUsage
	}
	if !fs.Changed("network-timeout") {
		// Each page is one walk of the whole store, answered once it ends:
		// a million sessions on bbolt took over a minute on a loaded
		// machine. Connecting still times out after the flag's default.
		c.timeout = listAnswerTimeout
	}
	q := url.Values{}
	if *locked {
		q.Set("locked", "1")
	}
	if *olderThan > 0 {
		q.Set("older_than", olderThan.String())
	}
	if *prefix != "" {
		q.Set("prefix", *prefix)
	}
	var raws []json.RawMessage
	total := 0
	for offset := 0; ; {
		page := apiMaxPage
		if *limit > 0 {
			page = min(page, *limit-len(raws))
		}
		q.Set("limit", strconv.Itoa(page))
		q.Set("offset", strconv.Itoa(offset))
		var doc struct {
			Total    int               `json:"total"`
			Sessions []json.RawMessage `json:"sessions"`
		}
		if err := c.call(ctx, "GET", "/api/sessions", q, &doc); err != nil {
			return fail(s, "aspstate sessions", err)
		}
		total = doc.Total
		raws = append(raws, doc.Sessions...)
		offset += len(doc.Sessions)
		if len(doc.Sessions) == 0 || offset >= doc.Total || (*limit > 0 && len(raws) >= *limit) {
			break
		}
	}
	if *asJSON {
		if raws == nil {
			raws = []json.RawMessage{}
		}
		out, err := json.Marshal(struct {
			Total    int               `json:"total"`
			Sessions []json.RawMessage `json:"sessions"`
		}{total, raws})
		if err != nil {
			return fail(s, "aspstate sessions", err)
		}
		fmt.Fprintf(s.stdout, "%s\n", out)
		return exitOK
	}
	entries := make([]sessionEntry, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &entries[i]); err != nil {
			return fail(s, "aspstate sessions", fmt.Errorf("session %d of the answer: %w", i, err))
		}
	}
	printSessions(s.stdout, entries)
	if total > len(entries) {
		fmt.Fprintf(s.stderr, "%d of %d matching sessions listed (--limit 0 lists all)\n", len(entries), total)
	}
	return exitOK
}

func describeBad(args []string, limit int, older time.Duration) string {
	switch {
	case len(args) > 0:
		return "argument " + strconv.Quote(args[0]) + " (sessions takes flags only)"
	case limit < 0:
		return "--limit " + strconv.Itoa(limit)
	}
	return "--older-than " + older.String()
}

func printSessions(w io.Writer, entries []sessionEntry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tTIMEOUT\tEXPIRES IN\tUNINIT\tLOCKED\tCOOKIE\tLOCK AGE")
	for _, e := range entries {
		lockAge := "-"
		if e.Locked {
			lockAge = seconds(e.LockAge).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%dm\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Size, e.Timeout, seconds(e.ExpiresIn),
			yesNo(e.Uninitialized), yesNo(e.Locked), e.Cookie, lockAge)
	}
	tw.Flush()
}

func seconds(f float64) time.Duration {
	return time.Duration(f * float64(time.Second)).Round(time.Second)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

const inspectUsage = `Usage: aspstate inspect ID [--json]

Shows one session's record through the operators' API, without its blob:
size, timeout, time to expiry, the uninitialized flag, the lock (cookie, date,
age). Reading it neither slides the expiry nor clears the uninitialized flag.
Exit status 3 when there is no such session.

`

func runInspect(ctx context.Context, args []string, s streams) int {
	fs, af := newAdminFlagSet("inspect", inspectUsage, s)
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(s.stderr, "aspstate inspect: want exactly one session ID")
		return exitUsage
	}
	c, ok := adminClientOr(fs, af, s)
	if !ok {
		return exitUsage
	}
	var raw json.RawMessage
	if err := c.call(ctx, "GET", "/api/session", url.Values{"id": {fs.Arg(0)}}, &raw); err != nil {
		return fail(s, "aspstate inspect", err)
	}
	if *asJSON {
		fmt.Fprintf(s.stdout, "%s\n", strings.TrimSpace(string(raw)))
		return exitOK
	}
	var e sessionEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return fail(s, "aspstate inspect", fmt.Errorf("reading the answer: %w", err))
	}
	printEntry(s.stdout, &e, time.Now())
	return exitOK
}

func printEntry(w io.Writer, e *sessionEntry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", e.ID)
	if e.KeyHash != "" {
		fmt.Fprintf(tw, "key hash\t%s\n", e.KeyHash)
	}
	fmt.Fprintf(tw, "size\t%d bytes\n", e.Size)
	fmt.Fprintf(tw, "timeout\t%d min\n", e.Timeout)
	expires := seconds(e.ExpiresIn)
	fmt.Fprintf(tw, "expires in\t%s (at %s)\n", expires, now.Add(expires).UTC().Format(time.DateTime+" MST"))
	fmt.Fprintf(tw, "uninitialized\t%s\n", yesNo(e.Uninitialized))
	fmt.Fprintf(tw, "locked\t%s\n", yesNo(e.Locked))
	fmt.Fprintf(tw, "cookie\t%d\n", e.Cookie)
	if d, err := time.Parse(time.RFC3339Nano, e.LockDate); err == nil && !d.IsZero() {
		what := "lock date"
		if !e.Locked {
			what = "last lock date"
		}
		fmt.Fprintf(tw, "%s\t%s\n", what, d.UTC().Format("2006-01-02 15:04:05.000 MST"))
	}
	if e.Locked {
		fmt.Fprintf(tw, "lock age\t%s\n", seconds(e.LockAge))
	}
	tw.Flush()
}

const forceUnlockUsage = `Usage: aspstate unlock --force ID [--why TEXT] [--who USER@HOST]

Frees a session's lock through the operators' API, as the holder's release
would (waiting requests are woken; the next lock gets a higher cookie). The
gateway logs who and why. Exit status 0 also when the session was not locked;
3 when there is no such session; 4 when the lock changed meanwhile.

`

func runForceUnlock(ctx context.Context, args []string, s streams) int {
	fs, af := newAdminFlagSet("unlock", forceUnlockUsage, s)
	force := fs.Bool("force", false, "required: free the lock whatever its cookie")
	why := fs.String("why", "", "reason, logged by the gateway")
	who := fs.String("who", defaultWho(), "who is asking, logged by the gateway")
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if !*force {
		fmt.Fprintln(s.stderr, "aspstate unlock: without --force, give --cookie N and --server (a protocol release)")
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(s.stderr, "aspstate unlock --force: want exactly one session ID")
		return exitUsage
	}
	c, ok := adminClientOr(fs, af, s)
	if !ok {
		return exitUsage
	}
	var doc struct {
		Unlocked bool  `json:"unlocked"`
		Cookie   int32 `json:"cookie"`
	}
	q := url.Values{"id": {fs.Arg(0)}, "who": {*who}, "why": {*why}}
	if err := c.call(ctx, "POST", "/api/session/unlock", q, &doc); err != nil {
		return fail(s, "aspstate unlock --force", err)
	}
	if doc.Unlocked {
		fmt.Fprintf(s.stdout, "unlocked (the lock had cookie %d)\n", doc.Cookie)
	} else {
		fmt.Fprintln(s.stdout, "not locked: nothing to do")
	}
	return exitOK
}

const apiDeleteUsage = `Usage: aspstate delete --admin ADDR ID [--why TEXT] [--who USER@HOST]

Deletes a session through the operators' API, locked or not (the lock goes
with it). The gateway logs who and why. Exit status 3 when there is no such
session; 4 when its lock changed meanwhile.
Without --admin (or ASPSTATE_ADMIN), or with a protocol flag (--server,
--cookie, --app, --key, --target), delete is the protocol's Remove instead
(aspstate delete --server ADDR --help).

`

// deleteViaAPI tells the operators' delete from the protocol's Remove: a
// protocol flag (--server, --cookie, --app, --key, --target) means the
// protocol, otherwise --admin or ASPSTATE_ADMIN the API.
func deleteViaAPI(args []string) bool {
	for _, f := range []string{"server", "cookie", "app", "key", "target"} {
		if hasFlag(args, f) {
			return false
		}
	}
	return hasFlag(args, "admin") || envOr("ASPSTATE_ADMIN", "") != ""
}

func runAPIDelete(ctx context.Context, args []string, s streams) int {
	fs, af := newAdminFlagSet("delete", apiDeleteUsage, s)
	why := fs.String("why", "", "reason, logged by the gateway")
	who := fs.String("who", defaultWho(), "who is asking, logged by the gateway")
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(s.stderr, "aspstate delete: want exactly one session ID")
		return exitUsage
	}
	c, ok := adminClientOr(fs, af, s)
	if !ok {
		return exitUsage
	}
	var doc struct {
		Deleted bool `json:"deleted"`
	}
	q := url.Values{"id": {fs.Arg(0)}, "who": {*who}, "why": {*why}}
	if err := c.call(ctx, "POST", "/api/session/delete", q, &doc); err != nil {
		return fail(s, "aspstate delete", err)
	}
	fmt.Fprintln(s.stdout, "deleted")
	return exitOK
}
