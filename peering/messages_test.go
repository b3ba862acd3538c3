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
	b := encodeOp(appendView(nil, v), "/LM/W3SVC/1/ROOT(abc)", &req)
	got, rest, err := readView(b, 2)
	if err != nil || !equalViews(got, v) {
		t.Fatal(err)
	}
	key, req2, err := decodeOp(rest)
	if err != nil || key != "/LM/W3SVC/1/ROOT(abc)" || !reflect.DeepEqual(req, req2) {
		t.Fatalf("got %q %+v %v", key, req2, err)
	}
}

// A release with OnlyIfLocked keeps the flag across the link, in the
// operation byte's high bit; the bit on any other operation is malformed.
func TestOnlyIfLockedRoundTrips(t *testing.T) {
	v := &View{Entries: []Entry{{1, Active}}}
	req := locking.Request{Op: locking.OpRelease, LockCookie: locking.N(7), OnlyIfLocked: true, Body: []byte{}}
	_, rest, _ := readView(encodeOp(appendView(nil, v), "k", &req), 1)
	if _, req2, err := decodeOp(rest); err != nil || !reflect.DeepEqual(req, req2) {
		t.Fatalf("got %+v %v, want %+v", req2, err, req)
	}
	req.Op = locking.OpGet
	_, rest, _ = readView(encodeOp(appendView(nil, v), "k", &req), 1)
	if _, _, err := decodeOp(rest); err == nil {
		t.Fatal("OnlyIfLocked on a Get decoded")
	}
	res := locking.Result{Status: locking.StatusNotLocked}
	_, rest, _ = readView(encodeResult(appendView(nil, v), &res), 1)
	if got, err := decodeResult(rest); err != nil || got.Status != locking.StatusNotLocked {
		t.Fatalf("StatusNotLocked: %+v %v", got, err)
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
		b := encodeResult(appendView(nil, v), &r)
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

func TestMoverMessagesRoundTrip(t *testing.T) {
	v := &View{Entries: []Entry{{1, Active}}}
	rec := backends.Record{Data: []byte("blob"), Timeout: 20, Locked: true, LockCookie: 9,
		LockDate: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)}

	id, seq, flags, err := decodeWalkReq(appendWalkReq(nil, 0xdeadbeef01, 7, walkStop))
	if err != nil || id != 0xdeadbeef01 || seq != 7 || flags != walkStop {
		t.Fatalf("walk request: %x %d %d %v", id, seq, flags, err)
	}
	if _, _, _, err := decodeWalkReq(appendWalkReq(nil, 1, 0, 0x80)); err == nil {
		t.Fatal("unknown walk flags must be refused")
	}

	recs := []movedRecord{{key: "a", rec: rec, remaining: time.Minute}, {key: "b", rec: backends.Record{Data: []byte{}, Timeout: 1}, remaining: time.Second}}
	_, rest, _ := readView(encodeWalkPage(v, pageLast|pageSettled, recs), 1)
	pf, got, err := decodeWalkPage(rest)
	if err != nil || pf != pageLast|pageSettled || len(got) != 2 || got[0].key != "a" || got[0].remaining != time.Minute ||
		!bytes.Equal(got[0].rec.Data, rec.Data) || !got[0].rec.LockDate.Equal(rec.LockDate) || got[1].key != "b" {
		t.Fatalf("walk page: %d %+v %v", pf, got, err)
	}
	if _, _, err := decodeWalkPage(rest[:len(rest)-1]); err == nil {
		t.Fatal("a truncated page must be refused")
	}
	_, rest, _ = readView(encodeWalkPage(v, 0, nil), 1)
	if pf, got, err := decodeWalkPage(rest); err != nil || pf != 0 || len(got) != 0 {
		t.Fatalf("empty page: %d %v %v", pf, got, err)
	}

	_, rest, _ = readView(encodePeeked(v, "k", &rec, 90*time.Second), 1)
	found, key, r, rem, err := decodePeeked(rest)
	if err != nil || !found || key != "k" || rem != 90*time.Second || r.LockCookie != 9 || !bytes.Equal(r.Data, rec.Data) {
		t.Fatalf("peeked: %v %q %+v %v %v", found, key, r, rem, err)
	}
	_, rest, _ = readView(encodePeeked(v, "k", nil, 0), 1)
	if found, _, _, _, err := decodePeeked(rest); err != nil || found {
		t.Fatalf("absent: %v %v", found, err)
	}

	for _, replace := range []bool{false, true} {
		_, rest, _ = readView(encodeInstall(v, "k", &rec, time.Hour, replace), 1)
		key, r, rem, rp, err := decodeInstall(rest)
		if err != nil || key != "k" || rem != time.Hour || rp != replace || !r.Locked || !bytes.Equal(r.Data, rec.Data) {
			t.Fatalf("install: %q %+v %v %v %v", key, r, rem, rp, err)
		}
		if _, _, _, _, err := decodeInstall(append(rest, 0)); err == nil {
			t.Fatal("trailing bytes after an install must be refused")
		}
	}
	// A lifetime that is not positive, or beyond any session's, is refused.
	for _, rem := range []time.Duration{0, -time.Second, maxRemaining + 1} {
		_, rest, _ = readView(encodeInstall(v, "k", &rec, rem, false), 1)
		if _, _, _, _, err := decodeInstall(rest); err == nil {
			t.Fatalf("remaining %v must be refused", rem)
		}
	}
}

// FuzzPeerMessages: no input makes a decoder panic or accept trailing junk as
// a body it should not have.
func FuzzPeerMessages(f *testing.F) {
	v := &View{Entries: []Entry{{1, Active}, {1, Active}}}
	req := locking.Request{Op: locking.OpGet}
	f.Add(encodeOp(appendView(nil, v), "k", &req))
	f.Add(encodeResult(appendView(nil, v), &locking.Result{Status: 200, HasBody: true, Body: []byte("b")}))
	f.Add(encodeMove(v, []movedRecord{{key: "k", rec: backends.Record{Data: []byte("d"), Timeout: 1}, remaining: time.Second}}))
	rec := backends.Record{Data: []byte("d"), Timeout: 1, Locked: true, LockCookie: 3}
	f.Add(append(appendView(nil, v), appendWalkReq(nil, 42, 1, 0)...))
	f.Add(encodeWalkPage(v, pageLast, []movedRecord{{key: "k", rec: rec, remaining: time.Second}}))
	f.Add(encodePeeked(v, "k", &rec, time.Minute))
	f.Add(encodeInstall(v, "k", &rec, time.Minute, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, rest, err := readView(b, 2)
		if err != nil {
			return
		}
		if key, req, err := decodeOp(rest); err == nil {
			if got := encodeOp(appendView(nil, v), key, &req); !bytes.Equal(got[len(appendView(nil, v)):], rest) {
				t.Fatalf("op does not re-encode to its input")
			}
		}
		decodeResult(rest)
		decodeMove(rest)
		readKey(rest)
		if id, seq, flags, err := decodeWalkReq(rest); err == nil {
			if !bytes.Equal(appendWalkReq(nil, id, seq, flags), rest) {
				t.Fatalf("walk request does not re-encode to its input")
			}
		}
		if flags, recs, err := decodeWalkPage(rest); err == nil {
			if got := encodeWalkPage(v, flags, recs); len(got)-len(appendView(nil, v)) > len(rest) {
				t.Fatalf("walk page re-encodes longer than its input")
			}
		}
		if found, key, rec, rem, err := decodePeeked(rest); err == nil && found && !validRemaining(rem) {
			t.Fatalf("peeked %q %+v with remaining %v", key, rec, rem)
		}
		if _, _, rem, _, err := decodeInstall(rest); err == nil && !validRemaining(rem) {
			t.Fatalf("install with remaining %v", rem)
		}
	})
}
