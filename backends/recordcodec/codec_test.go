package recordcodec

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

func samples() []backends.Record {
	return []backends.Record{
		{Data: []byte("blob"), Timeout: 20, LockCookie: 1},
		{Data: []byte{}, Timeout: 525600, Locked: true, LockCookie: 2147483647,
			LockDate: time.Date(2026, 12, 4, 17, 1, 2, 123456789, time.UTC)},
		{Data: bytes.Repeat([]byte{0xab}, 20<<20), Timeout: 1, Uninitialized: true, LockCookie: 3,
			LockDate: time.Date(1999, 1, 1, 0, 0, 0, 1, time.UTC)},
	}
}

func TestRoundTrip(t *testing.T) {
	for i, rec := range samples() {
		for _, rem := range []time.Duration{0, -time.Second, time.Nanosecond, 365 * 24 * time.Hour} {
			b := Append([]byte("prefix"), "/LM/W3SVC/1/ROOT(key)", &rec, rem)
			key, got, gotRem, n, err := Decode(append(b[6:], "next"...))
			if err != nil || n != len(b)-6 {
				t.Fatalf("sample %d: n %d of %d, %v", i, n, len(b)-6, err)
			}
			if key != "/LM/W3SVC/1/ROOT(key)" || gotRem != rem || !reflect.DeepEqual(got, rec) {
				t.Fatalf("sample %d: got %q %v %+v", i, key, gotRem, got.LockDate)
			}
		}
	}
}

func TestStream(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i, rec := range samples() {
		if err := w.Write(string(rune('a'+i)), &rec, time.Duration(i)*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(buf.Bytes()))
	for i, want := range samples() {
		key, rec, rem, err := r.Next()
		if err != nil || key != string(rune('a'+i)) || rem != time.Duration(i)*time.Minute || !reflect.DeepEqual(rec, want) {
			t.Fatalf("record %d: %q %v %v", i, key, rem, err)
		}
	}
	if _, _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
	// An empty stream has a header; a truncated one is an error, not EOF.
	var empty bytes.Buffer
	NewWriter(&empty).Flush()
	if _, _, _, err := NewReader(&empty).Next(); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	cut := buf.Bytes()[:buf.Len()-3]
	r = NewReader(bytes.NewReader(cut))
	var err error
	for err == nil {
		_, _, _, err = r.Next()
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated stream ended with %v, want ErrMalformed", err)
	}
	if _, _, _, err := NewReader(bytes.NewReader([]byte("not a stream at all"))).Next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestHostileLengths(t *testing.T) {
	rec := backends.Record{Data: []byte("x"), Timeout: 1}
	b := Append(nil, "k", &rec, time.Second)
	// Claim a 1 TiB blob: refused without allocating it.
	huge := append(b[:len(b)-2:len(b)-2], 0x80, 0x80, 0x80, 0x80, 0x80, 0x20)
	if _, _, _, _, err := Decode(huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("1 TiB claim: %v", err)
	}
	for i := range b {
		if _, _, _, _, err := Decode(b[:i]); err == nil {
			t.Fatalf("a record cut at %d decoded", i)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, rec := range samples()[:2] {
		f.Add(Append(nil, "key", &rec, time.Minute))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		key, rec, rem, n, err := Decode(b)
		if err != nil {
			return
		}
		again := Append(nil, key, &rec, rem)
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("decoded record does not re-encode to its input")
		}
	})
}
