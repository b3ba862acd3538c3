package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/stateclient"
)

// decode --admin reads the blob through the operators' API of a real
// gateway: the expiry does not slide, the uninitialized mark stays, a locked
// session can be read and stays locked; ASPSTATE_ADMIN selects the API
// unless --server is given; 404 and a wrong token keep their exit codes.
func TestDecodeThroughTheAdminAPI(t *testing.T) {
	g := startRealGateway(t)
	do := protocol(t, g.addr)
	fresh, locked := stateclient.Target("decodefresh000000000000a"), stateclient.Target("decodelocked00000000000b")
	freshKey, lockedKey := wire.TargetKey(fresh), wire.TargetKey(locked)
	if r := do(&wire.ClientRequest{Method: wire.MethodPut, Target: fresh, Timeout: stateclient.Num(20),
		ExtraFlags: stateclient.Num(1), LockCookie: stateclient.Num(0), Body: testBlob()}); r.Status != 200 {
		t.Fatalf("put uninitialized: %d", r.Status)
	}
	do(stateclient.Put(locked, -1, testBlob()))
	lk := do(stateclient.Acquire(locked))
	if lk.Status != 200 {
		t.Fatalf("acquire: %d", lk.Status)
	}
	ctx := context.Background()
	before, deadline, err := g.st.Peek(ctx, freshKey)
	if err != nil || !before.Uninitialized {
		t.Fatalf("peek: %v %+v", err, before)
	}
	time.Sleep(20 * time.Millisecond) // a Get now would move the deadline

	t.Setenv("ASPSTATE_ADMIN_TOKEN", testToken)
	r := runTool(t, "", "decode", "--admin", g.admin, freshKey)
	if r.code != exitOK {
		t.Fatalf("decode --admin: exit %d %q", r.code, r.stderr)
	}
	checkLines(t, r.stdout, append(testBlobLines, "Uninitialized: yes (read through the operators' API: the mark is still set)\n"))
	after, deadline2, err := g.st.Peek(ctx, freshKey)
	if err != nil || !after.Uninitialized || !deadline2.Equal(deadline) {
		t.Fatalf("after decode --admin: uninitialized %v, deadline %v -> %v (%v); want both unchanged",
			after.Uninitialized, deadline, deadline2, err)
	}

	// ASPSTATE_ADMIN alone selects the API; a locked session is read as stored.
	t.Setenv("ASPSTATE_ADMIN", g.admin)
	r = runTool(t, "", "decode", lockedKey)
	if r.code != exitOK {
		t.Fatalf("decode of a locked session through ASPSTATE_ADMIN: exit %d %q", r.code, r.stderr)
	}
	checkLines(t, r.stdout, testBlobLines)
	if rec, _, err := g.st.Peek(ctx, lockedKey); err != nil || !rec.Locked || rec.LockCookie != lk.LockCookie.Value {
		t.Fatalf("the lock after decode: %+v %v", rec, err)
	}
	// A session id with --app, and --key, name the same session.
	if r := runTool(t, "", "decode", "--app", "/LM/W3SVC/1/ROOT/Shop", "decodelocked00000000000b"); r.code != exitOK {
		t.Errorf("decode --app APP ID: exit %d %q", r.code, r.stderr)
	}
	if r := runTool(t, "", "decode", "--key", lockedKey, "--json"); r.code != exitOK || !strings.Contains(r.stdout, `"alice"`) {
		t.Errorf("decode --key --json: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// --server still means the protocol: a Get of a locked session is a 423.
	if r := runTool(t, "", "decode", "--server", g.addr, "--app", "/LM/W3SVC/1/ROOT/Shop", "decodelocked00000000000b"); r.code != exitLocked {
		t.Errorf("decode --server of a locked session: exit %d %q", r.code, r.stderr)
	}
	if r := runTool(t, "", "decode", "--server", g.addr, "--admin", g.admin, lockedKey); r.code != exitFail {
		t.Errorf("decode --server --admin: exit %d, want a usage error", r.code)
	}
	if r := runTool(t, "", "decode", "/LM/W3SVC/1/ROOT/Shop(x)/nosuchsession"); r.code != exitNotFound {
		t.Errorf("decode of an absent session: exit %d %q", r.code, r.stderr)
	}
	t.Setenv("ASPSTATE_ADMIN_TOKEN", "wrong")
	if r := runTool(t, "", "decode", freshKey); r.code != exitRefused {
		t.Errorf("decode with a wrong token: exit %d %q", r.code, r.stderr)
	}
	// The protocol path, for contrast, slides the expiry and clears the mark.
	r = runTool(t, "", "decode", "--server", g.addr, "--key", freshKey)
	if r.code != exitOK || !strings.Contains(r.stdout, "this Get cleared the mark") {
		t.Fatalf("decode --server: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if rec, d, _ := g.st.Peek(ctx, freshKey); rec.Uninitialized || !d.After(deadline) {
		t.Errorf("after decode --server: uninitialized %v, deadline moved %v; want cleared and slid", rec.Uninitialized, d.Sub(deadline))
	}
}
