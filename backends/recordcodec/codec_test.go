package recordcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

type sample struct {
	name      string
	key       string
	rec       backends.Record
	remaining time.Duration
}

func samples() []sample {
	lockDate := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	return []sample{
		{"full", "/LM/W3SVC/1/ROOT/app(abc)", backends.Record{Data: []byte("\x00\x01 blob \xff"), Timeout: 525600,
			Uninitialized: true, Locked: true, LockCookie: math.MaxInt32, LockDate: lockDate}, 19*time.Minute + 1},
		{"zero", "", backends.Record{}, 0},
		{"empty data", "k", backends.Record{Data: []byte{}, Timeout: 20, LockCookie: 1}, time.Nanosecond},
		{"negative", "k\x00\xff", backends.Record{Data: []byte("x"), Timeout: -5, LockCookie: math.MinInt32,
			LockDate: lockDate.In(time.FixedZone("UTC+5:30", 5*3600+1800))}, -time.Hour},
		{"extremes", strings.Repeat("k", MaxKeyLen), backends.Record{Data: []byte("y"), Timeout: math.MinInt32,
			LockDate: time.Unix(0, 1)}, math.MinInt64},
		{"epoch lock date", "e", backends.Record{Data: []byte("e"), LockDate: time.Unix(0, 0)}, math.MaxInt64},
		{"old lock date", "o", backends.Record{LockDate: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}, 1},
	}
}

// check compares a decoded record with what was encoded.
func check(t *testing.T, name string, s sample, key string, rec backends.Record, remaining time.Duration) {
	t.Helper()
	if key != s.key {
		t.Errorf("%s: key %q, want %q", name, key, s.key)
	}
	if !bytes.Equal(rec.Data, s.rec.Data) || rec.Data == nil {
		t.Errorf("%s: Data %q (nil: %v), want %q", name, rec.Data, rec.Data == nil, s.rec.Data)
	}
	if !rec.LockDate.Equal(s.rec.LockDate) || rec.LockDate.Location() != time.UTC && !rec.LockDate.IsZero() {
		t.Errorf("%s: LockDate %v, want %v in UTC", name, rec.LockDate, s.rec.LockDate)
	}
	if rec.LockDate.IsZero() != s.rec.LockDate.IsZero() {
		t.Errorf("%s: LockDate zero %v, want %v", name, rec.LockDate.IsZero(), s.rec.LockDate.IsZero())
	}
	if rec.Timeout != s.rec.Timeout || rec.LockCookie != s.rec.LockCookie ||
		rec.Locked != s.rec.Locked || rec.Uninitialized != s.rec.Uninitialized {
		t.Errorf("%s: fields %+v, want %+v", name, rec, s.rec)
	}
	if remaining != s.remaining {
		t.Errorf("%s: remaining %v, want %v", name, remaining, s.remaining)
	}
}

func TestRoundTrip(t *testing.T) {
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i * 31)
	}
	all := append(samples(), sample{"20 MiB", "big", backends.Record{Data: big, Timeout: 20, LockCookie: 2}, time.Minute})
	var stream []byte
	for _, s := range all {
		b := Append([]byte("prefix"), s.key, &s.rec, s.remaining)
		if string(b[:6]) != "prefix" {
			t.Fatalf("%s: Append changed dst's bytes", s.name)
		}
		key, rec, rem, n, err := Decode(b[6:])
		if err != nil {
			t.Fatalf("%s: Decode: %v", s.name, err)
		}
		if n != len(b)-6 {
			t.Errorf("%s: Decode used %d of %d bytes", s.name, n, len(b)-6)
		}
		check(t, s.name, s, key, rec, rem)
		stream = append(stream, b[6:]...)
	}
	// Records back to back decode one after the other.
	for _, s := range all {
		key, rec, rem, n, err := Decode(stream)
		if err != nil {
			t.Fatalf("%s in a sequence: %v", s.name, err)
		}
		check(t, s.name+" in a sequence", s, key, rec, rem)
		stream = stream[n:]
	}
	if len(stream) != 0 {
		t.Fatalf("%d bytes left over", len(stream))
	}
}

func TestNilDataDecodesEmpty(t *testing.T) {
	b := Append(nil, "k", &backends.Record{Timeout: 1}, 0)
	_, rec, _, _, err := Decode(b)
	if err != nil || rec.Data == nil || len(rec.Data) != 0 {
		t.Fatalf("Decode = %v, Data %#v; want an empty, non-nil Data", err, rec.Data)
	}
	// Nil and empty encode alike.
	if e := Append(nil, "k", &backends.Record{Data: []byte{}, Timeout: 1}, 0); !bytes.Equal(b, e) {
		t.Fatal("nil and empty Data encode differently")
	}
}

func TestDecodedDataAliasesButCannotGrowInto(t *testing.T) {
	b := Append(nil, "a", &backends.Record{Data: []byte("one")}, 0)
	b = Append(b, "b", &backends.Record{Data: []byte("two")}, 0)
	key, rec, _, n, err := Decode(b)
	if err != nil || key != "a" {
		t.Fatalf("Decode: %q, %v", key, err)
	}
	_ = append(rec.Data, "XXXXXXXXXXXXXXXX"...) // must not write into b
	if key, rec, _, _, err := Decode(b[n:]); err != nil || key != "b" || string(rec.Data) != "two" {
		t.Fatalf("the next record after appending to Data: %q %q %v", key, rec.Data, err)
	}
	b[n-1] = '!' // the key is a copy, Data is not
	if key != "a" || string(rec.Data) != "on!" {
		t.Fatalf("after changing b: key %q, Data %q; want key a, Data on!", key, rec.Data)
	}
}

func TestDecodeShortInput(t *testing.T) {
	for _, s := range samples()[:4] {
		b := Append(nil, s.key, &s.rec, s.remaining)
		for i := range len(b) {
			_, _, _, _, err := Decode(b[:i])
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s cut at %d of %d bytes: %v, want io.ErrUnexpectedEOF", s.name, i, len(b), err)
			}
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := func() []byte {
		return Append(nil, "key", &backends.Record{Data: []byte("data"), LockDate: time.Unix(5, 6)}, time.Second)
	}
	const flagsAt = 1 + 1 + 3 // version, key length, key
	huge := binary.AppendUvarint([]byte{Version}, math.MaxUint64)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"version 0", func() []byte { b := good(); b[0] = 0; return b }()},
		{"version 2", func() []byte { b := good(); b[0] = 2; return b }()},
		{"unknown flag", func() []byte { b := good(); b[flagsAt] |= 8; return b }()},
		{"nanoseconds", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[flagsAt+17:], 1e9)
			return b
		}()},
		{"lock date without flag", func() []byte { b := good(); b[flagsAt] &^= flagLockDate; return b }()},
		{"key length over the limit", append(binary.AppendUvarint([]byte{Version}, MaxKeyLen+1), make([]byte, 64)...)},
		{"key length 2^64-1", append(huge, make([]byte, 64)...)},
		{"key length overflows", append([]byte{Version}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"data length over the limit", func() []byte {
			b := Append(nil, "k", &backends.Record{}, 0)
			return binary.AppendUvarint(b[:len(b)-1], MaxDataLen+1)
		}()},
	} {
		_, _, _, _, err := Decode(c.b)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode = %v, want ErrCorrupt", c.name, err)
		}
	}
}

func TestStream(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	all := append(samples(), sample{"20 MiB", "big", backends.Record{Data: big, Timeout: 20}, time.Minute})
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, s := range all {
		if err := w.Write(s.key, &s.rec, s.remaining); err != nil {
			t.Fatalf("Write %s: %v", s.name, err)
		}
	}
	if err := w.Write(strings.Repeat("k", MaxKeyLen+1), &backends.Record{}, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write of an over-long key = %v, want ErrTooLarge", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("ASPSREC\x01")) {
		t.Fatalf("stream starts with %q", buf.Bytes()[:8])
	}
	r := NewReader(bytes.NewReader(buf.Bytes()))
	var first backends.Record
	for i, s := range all {
		key, rec, rem, err := r.Next()
		if err != nil {
			t.Fatalf("Next %s: %v", s.name, err)
		}
		check(t, s.name, s, key, rec, rem)
		if i == 0 {
			first = rec
		}
	}
	if _, _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after the last record = %v, want io.EOF", err)
	}
	if _, _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next again = %v, want io.EOF", err)
	}
	if string(first.Data) != string(all[0].rec.Data) {
		t.Fatalf("a returned record's Data changed under later reads: %q", first.Data)
	}
}

func TestEmptyStream(t *testing.T) {
	var buf bytes.Buffer
	if err := NewWriter(&buf).Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "ASPSREC\x01" {
		t.Fatalf("empty stream is %q", buf.String())
	}
	if _, _, _, err := NewReader(&buf).Next(); err != io.EOF {
		t.Fatalf("Next on an empty stream = %v, want io.EOF", err)
	}
	if _, _, _, err := NewReader(strings.NewReader("")).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next on a stream without header = %v, want io.ErrUnexpectedEOF", err)
	}
	for _, h := range []string{"ASPSREC\x02", "NOTASPS\x01"} {
		if _, _, _, err := NewReader(strings.NewReader(h)).Next(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Next on header %q = %v, want ErrCorrupt", h, err)
		}
	}
}

// TestStreamCutAnywhere cuts a stream at every byte: a cut at a record
// boundary is a clean end, anywhere else an io.ErrUnexpectedEOF.
func TestStreamCutAnywhere(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	bounds := map[int]bool{}
	for _, s := range samples()[:4] {
		if err := w.Write(s.key, &s.rec, s.remaining); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		bounds[buf.Len()] = true
	}
	bounds[headerLen] = true
	full := buf.Bytes()
	for cut := range len(full) {
		r := NewReader(bytes.NewReader(full[:cut]))
		var err error
		for err == nil {
			_, _, _, err = r.Next()
		}
		if bounds[cut] && err != io.EOF {
			t.Fatalf("cut at %d (a record boundary): %v, want io.EOF", cut, err)
		}
		if !bounds[cut] && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

// TestReaderLyingLength: a record that claims the largest data length and
// then ends costs a bounded allocation, not the claimed 64 MiB.
func TestReaderLyingLength(t *testing.T) {
	b := Append([]byte("ASPSREC\x01"), "k", &backends.Record{}, 0)
	b = binary.AppendUvarint(b[:len(b)-1], MaxDataLen)
	b = append(b, "only a few bytes"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, err := NewReader(bytes.NewReader(b)).Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next = %v, want io.ErrUnexpectedEOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("reading a record that lies about its length allocated %d bytes", got)
	}
	// One over the limit is refused before reading on.
	b = Append([]byte("ASPSREC\x01"), "k", &backends.Record{}, 0)
	b = binary.AppendUvarint(b[:len(b)-1], MaxDataLen+1)
	if _, _, _, err := NewReader(bytes.NewReader(b)).Next(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Next = %v, want ErrCorrupt", err)
	}
}

func ExampleAppend() {
	rec := backends.Record{Data: []byte("blob"), Timeout: 20, LockCookie: 1}
	b := Append(nil, "/app/session", &rec, 19*time.Minute)
	key, got, remaining, n, err := Decode(b)
	fmt.Println(key, string(got.Data), got.Timeout, remaining, n == len(b), err)
	// Output: /app/session blob 20 19m0s true <nil>
}
