package main

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/frontend/wire"
)

// testBlob is a session as System.Web writes it (protocol.md §6), built by
// hand: timeout 20; items "a" = Int32 5, a null key = null, "name" =
// String "alice"; one static object "app" declared as App.Basket, late bound.
func testBlob() []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 20)
	b = append(b, 1, 1)       // items, static objects
	b = le.AppendUint32(b, 3) // count
	b = le.AppendUint32(b, 1) // the null key is item 1
	b = append(b, 1, 'a')     // keys, the null one skipped
	b = append(b, 4, 'n', 'a', 'm', 'e')
	values := [][]byte{{2, 5, 0, 0, 0}, {21}, {1, 5, 'a', 'l', 'i', 'c', 'e'}}
	end := 0
	for _, v := range values {
		end += len(v)
		b = le.AppendUint32(b, uint32(end))
	}
	for _, v := range values {
		b = append(b, v...)
	}
	b = le.AppendUint32(b, 1) // static objects
	b = append(b, 3, 'a', 'p', 'p', 0, 10)
	b = append(b, "App.Basket"...)
	b = append(b, 1)
	return append(b, 0xff)
}

var testBlobLines = []string{
	"Timeout: 20 min\n",
	"Items: 3\n",
	"  a (Int32): 5\n",
	"  (null key) (Null): null\n",
	"  name (String): \"alice\"\n",
	"Static objects: 1\n",
	"  app (not created): App.Basket, late bound\n",
}

func checkLines(t *testing.T, out string, lines []string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeFile(t *testing.T) {
	r := runTool(t, "", "decode", "--file", writeFile(t, testBlob()))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	checkLines(t, r.stdout, append(testBlobLines, "Size: "+strconv.Itoa(len(testBlob()))+" bytes\n"))

	// stdin
	r = runTool(t, string(testBlob()), "decode", "-f", "-")
	if r.code != 0 {
		t.Fatalf("stdin: exit %d, stderr %s", r.code, r.stderr)
	}
	checkLines(t, r.stdout, testBlobLines)
}

func TestDecodeCompressed(t *testing.T) {
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	zw.Write(testBlob())
	zw.Close()
	z.WriteByte(0xff) // the pad SessionStateUtility adds
	r := runTool(t, z.String(), "decode", "--file", "-")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	checkLines(t, r.stdout, append(testBlobLines, "compressed (deflate)"))
}

func TestDecodeJSON(t *testing.T) {
	r := runTool(t, string(testBlob()), "decode", "--json", "--file", "-")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	var got struct {
		Timeout int
		Items   []struct {
			Name    string
			NullKey bool `json:"null_key"`
			Value   struct {
				Type   string
				Text   string
				String *string
			}
		}
		StaticObjects []struct {
			Name         string
			DeclaredType string `json:"declared_type"`
		} `json:"static_objects"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if got.Timeout != 20 || len(got.Items) != 3 || got.Items[0].Name != "a" || got.Items[0].Value.Text != "5" ||
		!got.Items[1].NullKey || got.Items[2].Value.Type != "String" ||
		got.Items[2].Value.String == nil || *got.Items[2].Value.String != "alice" || len(got.StaticObjects) != 1 ||
		got.StaticObjects[0].DeclaredType != "App.Basket" {
		t.Errorf("got %+v", got)
	}
}

func TestDecodeBadInput(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string // in stderr
	}{
		{"not a session", "<html>hello</html>", []string{"decode", "--file", "-"}, "not an ASP.NET session blob"},
		{"truncated", string(testBlob()[:20]), []string{"decode", "--file", "-"}, "truncated"},
		{"empty", "", []string{"decode", "--file", "-"}, "0 bytes that do not decode"},
		{"no such file", "", []string{"decode", "--file", filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"no arguments", "", []string{"decode"}, "need a session id"},
		{"file and id", "", []string{"decode", "--file", "-", "abc"}, "not both"},
		{"two ids", "", []string{"decode", "abc", "def"}, "exactly one"},
		{"unknown flag", "", []string{"decode", "--bogus"}, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runTool(t, tt.stdin, tt.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

func TestDecodeHelpOnStdout(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		r := runTool(t, "", "decode", arg)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:\n  aspstate decode --file F") ||
			!strings.Contains(r.stdout, "--server") || !strings.Contains(r.stdout, "Exit status") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, r.code, r.stdout, r.stderr)
		}
	}
	if r := runTool(t, "", "help"); !strings.Contains(r.stdout, "aspstate decode --file F") {
		t.Errorf("the command list lacks decode:\n%s", r.stdout)
	}
}

const secretID = "kf51kjsndazux1l0vjlec5jw"

// decode reads through the protocol with a plain Get and leaves no lock:
// the session can be locked right after, and decoding a locked session
// reports 423 with exit status 4.
func TestDecodeFromServer(t *testing.T) {
	addr := startFakeState(t, 0)
	if r := runTool(t, string(testBlob()), "put", "--server", addr, secretID); r.code != 0 {
		t.Fatalf("put: exit %d, %s", r.code, r.stderr)
	}
	r := runTool(t, "", "decode", "--server", addr, secretID)
	if r.code != 0 {
		t.Fatalf("decode: exit %d, stderr %s", r.code, r.stderr)
	}
	checkLines(t, r.stdout, testBlobLines)
	if strings.Contains(r.stdout+r.stderr, secretID) {
		t.Errorf("the session id was printed:\n%s%s", r.stdout, r.stderr)
	}

	if r := runTool(t, "", "lock", "--server", addr, secretID); r.code != 0 || !strings.HasPrefix(r.stdout, "200 ") {
		t.Fatalf("lock after decode: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runTool(t, "", "decode", "--server", addr, secretID)
	if r.code != 4 || !strings.Contains(r.stderr, "locked (423)") || strings.Contains(r.stderr, secretID) {
		t.Errorf("decode of a locked session: exit %d, stderr %q", r.code, r.stderr)
	}

	r = runTool(t, "", "decode", "--server", addr, "nosuchsession")
	if r.code != 3 || !strings.Contains(r.stderr, "no such session (404)") || strings.Contains(r.stderr, "nosuchsession") {
		t.Errorf("decode of a missing session: exit %d, stderr %q", r.code, r.stderr)
	}

	// ASPSTATE_SERVER stands in for --server.
	t.Setenv("ASPSTATE_SERVER", addr)
	r = runTool(t, "", "decode", "--json", "--key", "/LM/W3SVC/1/ROOT/App/none")
	if r.code != 3 {
		t.Errorf("via ASPSTATE_SERVER: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDecodeSendsAPlainGet(t *testing.T) {
	resp := wire.AppendResponse(nil, "4.0.30319", &wire.Response{Status: 200, ActionFlags: true, Timeout: 20, HasTimeout: true, Body: testBlob()})
	addr, reqs := scripted(t, string(resp))
	r := runTool(t, "", "decode", "--server", addr, "--app", "/LM/W3SVC/1/ROOT/Shop", secretID)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	checkLines(t, r.stdout, append(testBlobLines, "Uninitialized: yes"))
	req := parseRequest(t, recv(t, reqs))
	if req.Method != wire.MethodGet || req.Exclusive != wire.ExclusiveNone || req.LockCookie.Present ||
		!strings.HasSuffix(string(req.Target), "%2f"+secretID) {
		t.Errorf("sent %v %s exclusive=%d cookie=%v", req.Method, req.Target, req.Exclusive, req.LockCookie)
	}
}

func TestDecodeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := runTool(t, "", "decode", "--server", addr, secretID)
	if r.code != 2 || strings.Contains(r.stderr, secretID) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
