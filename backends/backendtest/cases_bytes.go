package backendtest

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"github.com/aspstate/aspstate/backends"
)

func testReturnedDataIsACopy(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.put("k", rec("original", 20))
	got := e.get("k")
	for i := range got.Data {
		got.Data[i] = 'X'
	}
	e.wantRecord("k", rec("original", 20))

	// What a transition copies out stays valid after Apply returns, even
	// once the record is replaced (a bbolt page may be reused, for example).
	var kept []byte
	e.apply("k", func(cur *backends.Record) backends.Change {
		kept = bytes.Clone(cur.Data)
		return backends.Change{Action: backends.Keep}
	})
	e.put("k", rec("replaced", 20))
	if string(kept) != "original" {
		t.Fatalf("copied data changed to %q", kept)
	}
}

func testInputNotRetained(t *testing.T, h Harness) {
	e := newEnv(t, h)

	// The caller's buffer after Put.
	buf := []byte("caller's buffer")
	e.put("put", backends.Record{Data: buf, Timeout: 20, LockCookie: 1})
	for i := range buf {
		buf[i] = '!'
	}
	e.wantRecord("put", rec("caller's buffer", 20))

	// The caller's buffer after a Store through Apply, replacing a record.
	buf = []byte("second buffer")
	e.apply("put", func(*backends.Record) backends.Change {
		return backends.Change{Action: backends.Store, Record: backends.Record{Data: buf, Timeout: 20, LockCookie: 1}}
	})
	copy(buf, "XXXXXXXXXXXXX")
	e.wantRecord("put", rec("second buffer", 20))

	// A Change whose Data aliases cur.Data, as a lock acquire returns: the
	// store must not be confused by writing its own bytes back (bbolt: a value
	// pointing into the page being rewritten). Repeated, and on several keys,
	// so that reused pages or buffers would show.
	date := e.clock.Now()
	for i := range 20 {
		key := fmt.Sprintf("alias-%d", i%4)
		data := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i*37)
		e.put(key, backends.Record{Data: data, Timeout: 20, LockCookie: 1})
		e.apply(key, func(cur *backends.Record) backends.Change {
			r := *cur // Data aliases cur.Data
			r.Locked = true
			r.LockCookie++
			r.LockDate = date
			return backends.Change{Action: backends.Store, Record: r}
		})
		e.wantRecord(key, backends.Record{Data: data, Timeout: 20, Locked: true, LockCookie: 2, LockDate: date})
		// Release, again aliasing, with a sub-slice this time.
		e.apply(key, func(cur *backends.Record) backends.Change {
			r := *cur
			r.Locked = false
			r.Data = cur.Data[1:]
			return backends.Change{Action: backends.Store, Record: r}
		})
		e.wantRecord(key, backends.Record{Data: data[1:], Timeout: 20, LockCookie: 2, LockDate: date})
	}
}

func testEmptyAndNilData(t *testing.T, h Harness) {
	e := newEnv(t, h)
	for _, c := range []struct {
		key  string
		data []byte
	}{{"nil", nil}, {"empty", []byte{}}, {"emptied", []byte("was not empty")}} {
		e.put(c.key, backends.Record{Data: c.data, Timeout: 20, LockCookie: 1})
		if c.key == "emptied" {
			e.put(c.key, backends.Record{Data: []byte{}, Timeout: 20, LockCookie: 1})
		}
		got := e.get(c.key) // found, not ErrNotFound
		if len(got.Data) != 0 || got.Timeout != 20 {
			t.Errorf("%s: Get = %+v, want empty data and Timeout 20", c.key, summary(got))
		}
		e.apply(c.key, func(cur *backends.Record) backends.Change {
			if cur == nil {
				t.Errorf("%s: transition saw nil for a record with empty data", c.key)
			} else if len(cur.Data) != 0 {
				t.Errorf("%s: transition saw %d bytes", c.key, len(cur.Data))
			}
			return backends.Change{Action: backends.Keep}
		})
	}
}

func testLargeValueAtLimit(t *testing.T, h Harness) {
	e := newEnv(t, h)
	n := h.MaxValueSize
	if n <= 0 {
		t.Fatal("Harness.MaxValueSize must be set to the largest value the store accepts")
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	want := backends.Record{Data: data, Timeout: 20, LockCookie: 1}
	e.put("big", want)
	e.wantRecord("big", want)
	// Replacing it with another value of the same size.
	data2 := bytes.Clone(data)
	data2[0]++
	data2[n-1]++
	want.Data = data2
	e.put("big", want)
	e.wantRecord("big", want)
}

// binaryKeys are keys a store must keep apart and return byte for byte: the
// URL-decoded request target may contain anything.
func binaryKeys() []string {
	long := bytes.Repeat([]byte("/AppDomainAppId/LM/W3SVC/1/ROOT/abcdefghijklmnopqrstuvwx"), 5)
	return []string{
		"a",
		"A",
		"a\x00",
		"a\x00b",
		"a\x00c",
		"\x00",
		"a/b",
		"a%2Fb",
		"a b",
		"a  b",
		" a",
		"\xff\xfe\x80 not utf-8",
		"caf\u00e9",
		"cafe\u0301",
		"key\r\nInjected: header",
		"{braces}:colon*star?",
		string(long),
		string(long) + "x",
		string(long[:len(long)-1]),
	}
}

func testBinarySafeKeys(t *testing.T, h Harness) {
	e := newEnv(t, h)
	keys := binaryKeys()
	if len(keys[16]) < 200 {
		t.Fatalf("long key has %d bytes", len(keys[16]))
	}
	for i, k := range keys {
		e.put(k, backends.Record{Data: fmt.Appendf(nil, "%d:%q", i, k), Timeout: 20, LockCookie: int32(i)})
	}
	for i, k := range keys {
		e.wantRecord(k, backends.Record{Data: fmt.Appendf(nil, "%d:%q", i, k), Timeout: 20, LockCookie: int32(i)})
	}
	// Deleting one leaves its neighbours alone.
	if err := backends.Remove(e.ctx, e.b, "a\x00"); err != nil {
		t.Fatal(err)
	}
	e.mustNotFind("a\x00")
	for i, k := range keys {
		if k == "a\x00" {
			continue
		}
		e.wantRecord(k, backends.Record{Data: fmt.Appendf(nil, "%d:%q", i, k), Timeout: 20, LockCookie: int32(i)})
	}
}

// testBorrowedKeysNotKept checks the backends.BorrowedKeys promise (Run adds
// it for stores that make it): keys that borrow one buffer, overwritten after each
// Apply as the gateway's read buffer is, still find their records (before
// and, for durable stores, after a reopen), and the overwritten text finds
// nothing.
func testBorrowedKeysNotKept(t *testing.T, h Harness) {
	e := newEnv(t, h)
	buf := make([]byte, 32)
	borrow := func(key string) string {
		clear(buf)
		n := copy(buf, key)
		return unsafe.String(&buf[0], n)
	}
	names := []string{"/app/borrowed-a", "/app/borrowed-b", "/app/borrowed-c"}
	for i, name := range names {
		if err := backends.Put(e.ctx, e.b, borrow(name), rec(fmt.Sprint("data ", i), 20)); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
	// A lock cycle through a borrowed key: found and replaced, not inserted again.
	e.b.Apply(e.ctx, borrow(names[0]), func(cur *backends.Record) backends.Change {
		if cur == nil {
			t.Errorf("%s through a borrowed key: not found", names[0])
			return backends.Change{Action: backends.Keep}
		}
		r := *cur
		r.Locked, r.LockCookie = true, 2
		return backends.Change{Action: backends.Store, Record: r}
	})
	borrow("/app/borrowed-x")
	check := func(when string) {
		t.Helper()
		for i, name := range names {
			want := rec(fmt.Sprint("data ", i), 20)
			if i == 0 {
				want.Locked, want.LockCookie = true, 2
			}
			e.wantRecord(name, want)
		}
		e.mustNotFind("/app/borrowed-x")
		if t.Failed() {
			t.Fatalf("%s: records kept a borrowed key", when)
		}
	}
	check("after the buffer changed")
	if h.Durable {
		if err := e.b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		e.b = e.open()
		check("after a reopen")
	}
}
