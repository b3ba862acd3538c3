package peering

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

func TestOpRoundTrips(t *testing.T) {
	v := &View{Entries: []Entry{{1, Active}, {2, Leaving}}}
	req := locking.Request{Op: locking.OpSet, Timeout: locking.N(20), LockCookie: locking.Num{Value: -1, Present: true},
		ExtraFlags: locking.N(1), Body: []byte("blob")}
	b := encodeOp(v, "/LM/W3SVC/1/ROOT(abc)", &req)
	got, rest, err := readView(b, 2)
	if err != nil || !equalViews(got, v) {
		t.Fatal(err)
	}
	key, req2, err := decodeOp(rest)
	if err != nil || key != "/LM/W3SVC/1/ROOT(abc)" || !reflect.DeepEqual(req, req2) {
		t.Fatalf("got %q %+v %v", key, req2, err)
	}
}

func TestResultRoundTrips(t *testing.T) {
	v := &View{Entries: []Entry{{1, Active}}}
	for _, r := range []locking.Result{
		{Status: 200, HasBody: true, Timeout: 20, Body: []byte("x"), HasLockCookie: true, LockCookie: 7, ActionFlags: true},
		{Status: 200, HasBody: true, Timeout: 20, Body: []byte{}},
		{Status: 423, LockCookie: 9, LockDate: time.Date(2026, 12, 4, 1, 2, 3, 456789, time.UTC), LockAgeSeconds: 12},
		{Status: 404},
		{Status: 400, Reason: "Timeout must be 1..525600 minutes"},
	} {
		b := encodeResult(v, &r)
		_, rest, _ := readView(b, 1)
		got, err := decodeResult(rest)
		if err != nil {
			t.Fatal(err)
		}
		if r.Body == nil && got.Body != nil && len(got.Body) == 0 {
			got.Body = nil
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("got %+v want %+v", got, r)
		}
	}
}

func TestMoveRoundTrips(t *testing.T) {
	v := &View{Entries: []Entry{{1, Active}}}
	recs := []movedRecord{
		{key: "a", rec: backends.Record{Data: []byte("one"), Timeout: 20, Locked: true, LockCookie: 5,
			LockDate: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}, remaining: 90 * time.Second},
		{key: "b", rec: backends.Record{Data: bytes.Repeat([]byte{7}, 70000), Timeout: 1, Uninitialized: true, LockCookie: 1},
			remaining: time.Millisecond},
	}
	b := encodeMove(v, recs)
	_, rest, _ := readView(b, 1)
	got, err := decodeMove(rest)
	if err != nil || len(got) != 2 {
		t.Fatal(err)
	}
	for i := range recs {
		g, w := got[i], recs[i]
		if g.key != w.key || g.remaining != w.remaining || !bytes.Equal(g.rec.Data, w.rec.Data) ||
			g.rec.Timeout != w.rec.Timeout || g.rec.Locked != w.rec.Locked || g.rec.LockCookie != w.rec.LockCookie ||
			!g.rec.LockDate.Equal(w.rec.LockDate) || g.rec.Uninitialized != w.rec.Uninitialized {
			t.Fatalf("record %d: got %+v want %+v", i, g, w)
		}
	}
	if _, err := decodeMove(rest[:len(rest)-1]); err == nil {
		t.Fatal("a truncated move must be refused")
	}
}

// FuzzPeerMessages: no input makes a decoder panic or accept trailing junk as
// a body it should not have.
func FuzzPeerMessages(f *testing.F) {
	v := &View{Entries: []Entry{{1, Active}, {1, Active}}}
	req := locking.Request{Op: locking.OpGet}
	f.Add(encodeOp(v, "k", &req))
	f.Add(encodeResult(v, &locking.Result{Status: 200, HasBody: true, Body: []byte("b")}))
	f.Add(encodeMove(v, []movedRecord{{key: "k", rec: backends.Record{Data: []byte("d"), Timeout: 1}, remaining: time.Second}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, rest, err := readView(b, 2)
		if err != nil {
			return
		}
		if key, req, err := decodeOp(rest); err == nil {
			if got := encodeOp(v, key, &req); !bytes.Equal(got[len(appendView(nil, v)):], rest) {
				t.Fatalf("op does not re-encode to its input")
			}
		}
		decodeResult(rest)
		decodeMove(rest)
		readKey(rest)
	})
}
