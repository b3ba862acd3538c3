package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

const testToken = "s3cret-token"

// Most session-tool tests use fakeAdmin, a minimal implementation of
// docs/admin-api.md; realadmin_test.go uses the gateway's own listener and
// integration/sessiontools_test.go the real binaries.

func seedFake(f *fakeAdmin) (lockDate time.Time) {
	lockDate = time.Now().Add(-42 * time.Second).UTC()
	f.put("/LM/W3SVC/1/ROOT/shop(h)/locked1", backends.Record{Data: []byte("abc"), Timeout: 20, Locked: true, LockCookie: 7, LockDate: lockDate}, 19*time.Minute)
	f.put("/LM/W3SVC/1/ROOT/shop(h)/older", backends.Record{Data: []byte("x"), Timeout: 20, Locked: true, LockCookie: 3, LockDate: lockDate.Add(-time.Hour)}, 10*time.Minute)
	f.put("/LM/W3SVC/1/ROOT/shop(h)/new", backends.Record{Data: []byte{0x14, 0, 0, 0, 0, 0, 0xff}, Timeout: 20, Uninitialized: true}, 20*time.Minute)
	f.put("/LM/W3SVC/1/ROOT/blog(h)/plain", backends.Record{Data: []byte("hello"), Timeout: 60, LockCookie: 2, LockDate: lockDate}, time.Hour)
	return lockDate
}

func TestSessionsListsAndFilters(t *testing.T) {
	f := newFakeAdmin(t, testToken)
	seedFake(f)
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)
	adm := []string{"--admin", f.addr()}

	r := runTool(t, "", append([]string{"sessions"}, adm...)...)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[1], "blog(h)/plain") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for _, want := range []string{"locked1  3     20m      19m", "yes     7       42s", "new"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runTool(t, "", append([]string{"sessions", "--locked"}, adm...)...)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(lines) != 3 || !strings.Contains(lines[1], "older") || !strings.Contains(lines[2], "locked1") {
		t.Fatalf("--locked: exit %d, oldest first expected:\n%s", r.code, r.stdout)
	}
	r = runTool(t, "", append([]string{"sessions", "--older-than", "10m"}, adm...)...)
	if lines = strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "older") {
		t.Fatalf("--older-than 10m:\n%s", r.stdout)
	}
	r = runTool(t, "", append([]string{"sessions", "--prefix", "/LM/W3SVC/1/ROOT/blog"}, adm...)...)
	if lines = strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "plain") {
		t.Fatalf("--prefix:\n%s", r.stdout)
	}
	r = runTool(t, "", append([]string{"sessions", "--limit", "1"}, adm...)...)
	if lines = strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(r.stderr, "1 of 4") {
		t.Fatalf("--limit 1: stdout\n%s\nstderr %q", r.stdout, r.stderr)
	}

	r = runTool(t, "", append([]string{"sessions", "--json", "--locked"}, adm...)...)
	var doc struct {
		Total    int `json:"total"`
		Sessions []sessionEntry
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Total != 2 || len(doc.Sessions) != 2 || doc.Sessions[1].Cookie != 7 {
		t.Fatalf("--json: %v %+v\n%s", err, doc, r.stdout)
	}
}

// More sessions than one page of the API: the command pages with offset.
func TestSessionsPages(t *testing.T) {
	f := newFakeAdmin(t, testToken)
	for i := range 2500 {
		f.put(fmt.Sprintf("k%05d", i), backends.Record{Data: []byte("d"), Timeout: 20}, time.Hour)
	}
	t.Setenv("ASPSTATE_ADMIN", f.addr())
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)
	r := runTool(t, "", "sessions", "--limit", "0", "--json")
	var doc struct {
		Total    int            `json:"total"`
		Sessions []sessionEntry `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Total != 2500 || len(doc.Sessions) != 2500 {
		t.Fatalf("exit %d, %v: total %d, %d listed", r.code, err, doc.Total, len(doc.Sessions))
	}
	for i, e := range doc.Sessions {
		if want := fmt.Sprintf("k%05d", i); e.ID != want {
			t.Fatalf("session %d is %s, want %s", i, e.ID, want)
		}
	}
	r = runTool(t, "", "sessions", "--limit", "1500")
	if n := strings.Count(r.stdout, "\n"); n != 1501 || !strings.Contains(r.stderr, "1500 of 2500") {
		t.Fatalf("--limit 1500: %d lines, stderr %q", n, r.stderr)
	}
}

func TestInspectUnlockDelete(t *testing.T) {
	f := newFakeAdmin(t, testToken)
	lockDate := seedFake(f)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("  "+testToken+"  \nsecond line ignored\n"), 0o600)
	adm := []string{"--admin", "http://" + f.addr() + "/", "--token-file", tokenFile}
	const id = "/LM/W3SVC/1/ROOT/shop(h)/locked1"

	r := runTool(t, "", append([]string{"inspect", id}, adm...)...)
	if r.code != exitOK {
		t.Fatalf("inspect: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"id             " + id, "size           3 bytes", "timeout        20 min", "expires in     19m",
		"uninitialized  no", "locked         yes", "cookie         7", "lock date      " + lockDate.Format("2006-01-02 15:04:05"),
		"lock age       42s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runTool(t, "", append([]string{"inspect", "/LM/W3SVC/1/ROOT/shop(h)/new"}, adm...)...)
	if !strings.Contains(r.stdout, "uninitialized  yes") || strings.Contains(r.stdout, "lock age") {
		t.Errorf("inspect of an uninitialized session:\n%s", r.stdout)
	}
	r = runTool(t, "", append([]string{"inspect", "--json", id}, adm...)...)
	var e sessionEntry
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.ID != id || !e.Locked {
		t.Errorf("inspect --json: %v %+v", err, e)
	}
	if r := runTool(t, "", append([]string{"inspect", "absent"}, adm...)...); r.code != exitNotFound || !strings.Contains(r.stderr, "404") {
		t.Errorf("inspect absent: exit %d, stderr %q", r.code, r.stderr)
	}

	r = runTool(t, "", append([]string{"unlock", "--force", id, "--why", "request died"}, adm...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "cookie 7") {
		t.Fatalf("unlock --force: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if rec, _, _ := f.store.Peek(t.Context(), id); rec.Locked {
		t.Fatal("still locked after unlock --force")
	}
	r = runTool(t, "", append([]string{"unlock", "--force", "--who", "ops@bastion", id}, adm...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "not locked") {
		t.Fatalf("second unlock --force: exit %d, %q", r.code, r.stdout)
	}
	if r := runTool(t, "", append([]string{"unlock", "--force", "absent"}, adm...)...); r.code != exitNotFound {
		t.Errorf("unlock --force absent: exit %d", r.code)
	}
	if r := runTool(t, "", append([]string{"unlock", "--force", "conflict"}, adm...)...); r.code != exitLocked || !strings.Contains(r.stderr, "retry") {
		t.Errorf("unlock --force with a 409: exit %d, %q", r.code, r.stderr)
	}

	r = runTool(t, "", append([]string{"delete", id, "--why", "user asked"}, adm...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "deleted") {
		t.Fatalf("delete: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runTool(t, "", append([]string{"delete", id}, adm...)...); r.code != exitNotFound {
		t.Errorf("delete again: exit %d", r.code)
	}
	// ASPSTATE_ADMIN alone routes delete to the API too.
	t.Setenv("ASPSTATE_ADMIN", f.addr())
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)
	if r := runTool(t, "", "delete", "/LM/W3SVC/1/ROOT/shop(h)/older"); r.code != exitOK {
		t.Errorf("delete with ASPSTATE_ADMIN: exit %d, %q", r.code, r.stderr)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	host, _ := os.Hostname()
	want := []string{"unlock " + defaultWho() + " request died", "unlock ops@bastion ", "delete " + defaultWho() + " user asked", "delete " + defaultWho() + " "}
	if fmt.Sprint(f.actions) != fmt.Sprint(want) || !strings.HasSuffix(defaultWho(), "@"+host) {
		t.Errorf("actions %q, want %q", f.actions, want)
	}
}

// Exit statuses of the API commands, as docs/admin-api.md lists them.
func TestSessionToolsExitCodes(t *testing.T) {
	f := newFakeAdmin(t, testToken)
	seedFake(f)
	noToken := newFakeAdmin(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		name string
		env  string // ASPSTATE_ADMIN_TOKEN
		args []string
		want int
	}{
		{"no token", "", []string{"sessions", "--admin", f.addr()}, exitRefused},
		{"wrong token", "nope", []string{"inspect", "x", "--admin", f.addr()}, exitRefused},
		{"no token configured", testToken, []string{"sessions", "--admin", noToken.addr()}, exitRefused},
		{"nothing listening", testToken, []string{"sessions", "--admin", dead}, exitUnreachable},
		{"store down", testToken, []string{"inspect", "storedown", "--admin", f.addr()}, exitUnreachable},
		{"conflict", testToken, []string{"delete", "conflict", "--admin", f.addr()}, exitLocked},
		{"not found", testToken, []string{"delete", "nope", "--admin", f.addr()}, exitNotFound},
		{"every filter", testToken, []string{"sessions", "--limit", "5", "--admin", f.addr(), "--older-than", "1ns", "--prefix", "/"}, exitOK},
		{"missing token file", "", []string{"sessions", "--admin", f.addr(), "--token-file", "/nonexistent/token"}, exitUsage},
		{"ok", testToken, []string{"sessions", "--admin", f.addr()}, exitOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("ASPSTATE_ADMIN_TOKEN", c.env)
			if r := runTool(t, "", c.args...); r.code != c.want {
				t.Errorf("exit %d, want %d; stderr %q", r.code, c.want, r.stderr)
			}
		})
	}
	t.Setenv("ASPSTATE_ADMIN_TOKEN", "")
	if r := runTool(t, "", "sessions", "--admin", f.addr()); !strings.Contains(r.stderr, "--token-file") {
		t.Errorf("a 401 does not say how to give the token: %q", r.stderr)
	}
}

// readExport decodes an export stream into a map.
type exported struct {
	rec       backends.Record
	remaining time.Duration
}

func readExport(t *testing.T, b []byte) map[string]exported {
	t.Helper()
	out := map[string]exported{}
	rd := recordcodec.NewReader(bytes.NewReader(b))
	for {
		key, rec, rem, err := rd.Next()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("export stream: %v", err)
		}
		out[key] = exported{rec, rem}
	}
}

// sameSessions compares two exports: every field, lifetimes within tol.
func sameSessions(t *testing.T, what string, got, want map[string]exported, tol time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d sessions, want %d", what, len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Fatalf("%s: %q missing", what, k)
		case !bytes.Equal(g.rec.Data, w.rec.Data) || g.rec.Timeout != w.rec.Timeout || g.rec.Uninitialized != w.rec.Uninitialized ||
			g.rec.Locked != w.rec.Locked || g.rec.LockCookie != w.rec.LockCookie || !g.rec.LockDate.Equal(w.rec.LockDate):
			t.Fatalf("%s: %q is %+v, want %+v", what, k, g.rec, w.rec)
		case g.remaining > w.remaining+tol || g.remaining < w.remaining-tol:
			t.Fatalf("%s: %q has %v left, want %v (±%v)", what, k, g.remaining, w.remaining, tol)
		}
	}
}

func TestExportImportThroughTheAPI(t *testing.T) {
	src := newFakeAdmin(t, testToken)
	seedFake(src)
	dst := newFakeAdmin(t, testToken)
	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)

	r := runTool(t, "", "export", "--admin", src.addr())
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("export: exit %d, stderr %q (quiet unless a terminal)", r.code, r.stderr)
	}
	first := readExport(t, []byte(r.stdout))
	if len(first) != 4 {
		t.Fatalf("exported %d sessions, want 4", len(first))
	}
	out := filepath.Join(t.TempDir(), "sessions.rec")
	if r := runTool(t, "", "export", "--admin", src.addr(), "--out", out); r.code != exitOK || r.stdout != "" {
		t.Fatalf("export --out: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Fatalf("export --out left %d files, want 1", len(entries))
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, mode %v", err, fi.Mode())
	}

	r = runTool(t, "", "import", "--admin", dst.addr(), "--in", out)
	if r.code != exitOK || !strings.Contains(r.stdout, "imported 4, skipped 0") {
		t.Fatalf("import: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = runTool(t, "", "export", "--admin", dst.addr())
	sameSessions(t, "after import", readExport(t, []byte(r.stdout)), first, 5*time.Second)

	// Again from stdin: nothing new; with --replace everything again.
	data, _ := os.ReadFile(out)
	if r := runTool(t, string(data), "import", "--admin", dst.addr()); !strings.Contains(r.stdout, "imported 0, skipped 4") {
		t.Fatalf("second import: %q %q", r.stdout, r.stderr)
	}
	if r := runTool(t, string(data), "import", "--replace", "--admin", dst.addr()); !strings.Contains(r.stdout, "imported 4, skipped 0") {
		t.Fatalf("import --replace: %q %q", r.stdout, r.stderr)
	}
	// A damaged stream: the API's 400, exit status 1.
	if r := runTool(t, string(data[:len(data)-2]), "import", "--admin", dst.addr()); r.code != exitFail || !strings.Contains(r.stderr, "400") {
		t.Fatalf("damaged import: exit %d, %q", r.code, r.stderr)
	}
	// Export failures leave no file behind.
	gone := filepath.Join(t.TempDir(), "x.rec")
	if r := runTool(t, "", "export", "--admin", src.addr(), "--out", gone, "--token-file", "/dev/null"); r.code != exitUsage {
		t.Fatalf("export with an empty token file: exit %d", r.code)
	}
	t.Setenv("ASPSTATE_ADMIN_TOKEN", "wrong")
	if r := runTool(t, "", "export", "--admin", src.addr(), "--out", gone); r.code != exitRefused {
		t.Fatalf("export refused: exit %d", r.code)
	}
	if entries, _ := os.ReadDir(filepath.Dir(gone)); len(entries) != 0 {
		t.Fatalf("a failed export left %d files", len(entries))
	}
}

func TestDeleteRouting(t *testing.T) {
	t.Setenv("ASPSTATE_ADMIN", "")
	for _, c := range []struct {
		args []string
		env  string
		api  bool
	}{
		{[]string{"s1"}, "", false},
		{[]string{"s1"}, "127.0.0.1:6060", true},
		{[]string{"--admin", "x:1", "s1"}, "", true},
		{[]string{"--admin=x:1", "s1"}, "", true},
		{[]string{"--server", "x:1", "s1"}, "127.0.0.1:6060", false},
		{[]string{"--cookie", "3", "s1"}, "127.0.0.1:6060", false},
		{[]string{"--key", "/a/b"}, "127.0.0.1:6060", false},
		{[]string{"--", "--admin"}, "", false},
	} {
		t.Setenv("ASPSTATE_ADMIN", c.env)
		if got := deleteViaAPI(c.args); got != c.api {
			t.Errorf("%q with ASPSTATE_ADMIN=%q: API %v, want %v", c.args, c.env, got, c.api)
		}
	}
}

func TestProgressLine(t *testing.T) {
	var b syncBuffer
	p := &progress{w: &b, label: "import", total: 4 << 20, start: time.Now(), stop: make(chan struct{})}
	p.add(0, 1<<20)
	p.finish()
	if got := b.String(); !strings.HasPrefix(got, "\rimport: [#####...............]  25%  1.0 MiB of 4.0 MiB") || !strings.HasSuffix(got, "\n") {
		t.Errorf("progress line %q", got)
	}
	b.Reset()
	p = &progress{w: &b, label: "export", start: time.Now(), stop: make(chan struct{})}
	p.add(3, 2048)
	p.finish()
	if got := b.String(); !strings.HasPrefix(got, "\rexport: 3 sessions, 2.0 KiB") {
		t.Errorf("progress line %q", got)
	}
	// Not a terminal: nothing at all.
	b.Reset()
	q := newProgress(&b, "export", 0)
	q.add(1, 1)
	q.finish()
	if b.String() != "" {
		t.Errorf("progress on a non-terminal: %q", b.String())
	}
}
