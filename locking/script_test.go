package locking

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// TestScripts runs the scenario scripts in testdata/*.txt. Each line is
//
//	<op> <key> [timeout=N] [cookie=N] [flags=N] [body=S]   -> <expected result>
//
// or "advance <duration>". Ops: get, acquire, release, put, delete, head. A
// numeric argument that is not a number is sent as present but invalid. The
// expected result is the status followed by the fields the web server would
// see (af, cookie, timeout, body, age), as printed by formatResult.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

func runScript(t *testing.T, path string) {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	store := map[string]backends.Record{}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cmd, want, _ := strings.Cut(text, "->")
		fields := strings.Fields(cmd)
		if fields[0] == "advance" {
			d, err := time.ParseDuration(fields[1])
			if err != nil {
				t.Fatalf("%s:%d: %v", path, line, err)
			}
			now = now.Add(d)
			continue
		}
		req, key := parseCommand(t, fmt.Sprintf("%s:%d", path, line), fields)
		var cur *backends.Record
		if r, ok := store[key]; ok {
			cur = &r
		}
		res, ch := Decide(cur, req, now)
		got := formatResult(res)
		switch ch.Action {
		case backends.Store:
			rec := ch.Record
			rec.Data = append([]byte(nil), rec.Data...)
			store[key] = rec
		case backends.Delete:
			delete(store, key)
		}
		if want = strings.TrimSpace(want); got != want {
			t.Errorf("%s:%d: %s\n  got  %s\n  want %s", path, line, strings.TrimSpace(cmd), got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func parseCommand(t *testing.T, where string, fields []string) (*Request, string) {
	ops := map[string]Op{"get": OpGet, "acquire": OpGetExclusive, "release": OpRelease,
		"put": OpSet, "delete": OpRemove, "head": OpResetTimeout}
	op, ok := ops[fields[0]]
	if !ok || len(fields) < 2 {
		t.Fatalf("%s: bad command %q", where, fields)
	}
	req := &Request{Op: op}
	for _, arg := range fields[2:] {
		name, val, _ := strings.Cut(arg, "=")
		num := func() Num {
			v, err := strconv.ParseInt(val, 10, 32)
			if err != nil {
				return Num{Present: true}
			}
			return Num{Value: int32(v), Present: true, Valid: v >= 0}
		}
		switch name {
		case "timeout":
			req.Timeout = num()
		case "cookie":
			req.LockCookie = num()
		case "flags":
			req.ExtraFlags = num()
		case "body":
			req.Body = []byte(val)
		default:
			t.Fatalf("%s: unknown argument %q", where, arg)
		}
	}
	return req, fields[1]
}

func formatResult(r Result) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Status))
	if r.ActionFlags {
		b.WriteString(" af")
	}
	if r.HasLockCookie || r.Status == 423 {
		fmt.Fprintf(&b, " cookie=%d", r.LockCookie)
	}
	if r.Status == 423 {
		fmt.Fprintf(&b, " age=%d", r.LockAgeSeconds)
	}
	if r.HasBody {
		fmt.Fprintf(&b, " timeout=%d body=%s", r.Timeout, r.Body)
	}
	return b.String()
}
