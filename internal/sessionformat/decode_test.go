package sessionformat

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecode(t *testing.T, b []byte) *Session {
	t.Helper()
	s, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(% x): %v", b, err)
	}
	return s
}

// The two examples computed in protocol.md §6.
func TestDocumentedExamples(t *testing.T) {
	s := mustDecode(t, mustHex(t, "14000000 00 00 ff"))
	if s.Timeout != 20 || s.HasItems || s.HasStaticObjects || len(s.Items) != 0 || s.Compressed || s.Size != 7 {
		t.Errorf("empty session: %+v", s)
	}
	b := mustHex(t, "14000000 01 00 01000000 ffffffff 0161 05000000 02 05000000 ff")
	if len(b) != 26 {
		t.Fatalf("example is %d bytes", len(b))
	}
	s = mustDecode(t, b)
	if s.Timeout != 20 || !s.HasItems || len(s.Items) != 1 {
		t.Fatalf("{a: 5}: %+v", s)
	}
	if it := s.Items[0]; it.Name != "a" || it.NullKey || it.Value.Type != TypeInt32 || it.Value.Text != "5" || it.Value.Size != 4 {
		t.Errorf("{a: 5}: item %+v", it)
	}
	// The test's writer produces the same bytes.
	if got := session(20, []item{{name: "a", value: vInt32(5)}}, nil); string(got) != string(b) {
		t.Errorf("writer: % x, want % x", got, b)
	}
}

// ticks is .NET's DateTime.Ticks for t (100 ns units since 0001-01-01).
func ticks(t time.Time) int64 {
	return (t.Unix()+62135596800)*10_000_000 + int64(t.Nanosecond()/100)
}

func TestEveryTypeID(t *testing.T) {
	when := time.Date(2024, 3, 5, 14, 7, 9, 123456700, time.UTC)
	tests := []struct {
		name  string
		value []byte
		typ   TypeID
		text  string
	}{
		{"String", vString("hello"), TypeString, `"hello"`},
		{"String empty", vString(""), TypeString, `""`},
		{"String UTF-8", vString("héllo €\n"), TypeString, `"héllo €\n"`},
		{"String long", vString(strings.Repeat("x", 300)), TypeString, `"` + strings.Repeat("x", 300) + `"`},
		{"Int32", vInt32(-5), TypeInt32, "-5"},
		{"Boolean true", value(3, func(w *bw) { w.u8(1) }), TypeBoolean, "true"},
		{"Boolean false", value(3, func(w *bw) { w.u8(0) }), TypeBoolean, "false"},
		{"DateTime", value(4, func(w *bw) { w.i64(ticks(when)) }), TypeDateTime, "2024-03-05T14:07:09.1234567"},
		{"DateTime min", value(4, func(w *bw) { w.i64(0) }), TypeDateTime, "0001-01-01T00:00:00.0000000"},
		{"DateTime max", value(4, func(w *bw) { w.i64(3155378975999999999) }), TypeDateTime, "9999-12-31T23:59:59.9999999"},
		{"DateTime out of range", value(4, func(w *bw) { w.i64(-1) }), TypeDateTime, "invalid DateTime (ticks -1)"},
		{"Decimal 1.50", value(5, func(w *bw) { w.i32(150).i32(0).i32(0).i32(2 << 16) }), TypeDecimal, "1.50"},
		{"Decimal 0.001", value(5, func(w *bw) { w.i32(1).i32(0).i32(0).i32(3 << 16) }), TypeDecimal, "0.001"},
		{"Decimal min", value(5, func(w *bw) { w.i32(-1).i32(-1).i32(-1).i32(decimalSign) }), TypeDecimal, "-79228162514264337593543950335"},
		{"Decimal 2^32", value(5, func(w *bw) { w.i32(0).i32(1).i32(0).i32(0) }), TypeDecimal, "4294967296"},
		{"Decimal bad flags", value(5, func(w *bw) { w.i32(1).i32(0).i32(0).i32(1) }), TypeDecimal, "invalid Decimal (bits 00000001 00000000 00000000 00000001)"},
		{"Byte", value(6, func(w *bw) { w.u8(255) }), TypeByte, "255"},
		{"Char ASCII", value(7, func(w *bw) { w.u8('A') }), TypeChar, "'A'"},
		{"Char 2 bytes", value(7, func(w *bw) { w.raw([]byte("é")) }), TypeChar, "'é'"},
		{"Char 3 bytes", value(7, func(w *bw) { w.raw([]byte("€")) }), TypeChar, "'€'"},
		{"Single", value(8, func(w *bw) { w.f32(1.5) }), TypeSingle, "1.5"},
		{"Double", value(9, func(w *bw) { w.f64(3.14159) }), TypeDouble, "3.14159"},
		{"SByte", value(10, func(w *bw) { w.u8(0x80) }), TypeSByte, "-128"},
		{"Int16", value(11, func(w *bw) { w.i16(-300) }), TypeInt16, "-300"},
		{"Int64", value(12, func(w *bw) { w.i64(-9000000000000000000) }), TypeInt64, "-9000000000000000000"},
		{"UInt16", value(13, func(w *bw) { w.i16(-1) }), TypeUInt16, "65535"},
		{"UInt32", value(14, func(w *bw) { w.i32(-1) }), TypeUInt32, "4294967295"},
		{"UInt64", value(15, func(w *bw) { w.i64(-1) }), TypeUInt64, "18446744073709551615"},
		{"TimeSpan 20 min", value(16, func(w *bw) { w.i64(20 * 60 * 10_000_000) }), TypeTimeSpan, "00:20:00"},
		{"TimeSpan days", value(16, func(w *bw) { w.i64(((26*60+3)*60+4)*10_000_000 + 5_000_000) }), TypeTimeSpan, "1.02:03:04.5000000"},
		{"TimeSpan negative", value(16, func(w *bw) { w.i64(-90 * 10_000_000) }), TypeTimeSpan, "-00:01:30"},
		// Guid.Parse("00112233-4455-6677-8899-aabbccddeeff").ToByteArray()
		{"Guid", value(17, func(w *bw) {
			w.raw([]byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff})
		}), TypeGuid, "00112233-4455-6677-8899-aabbccddeeff"},
		{"IntPtr 32-bit", value(18, func(w *bw) { w.i32(-2) }), TypeIntPtr, "-2"},
		{"IntPtr 64-bit", value(18, func(w *bw) { w.i64(1 << 40) }), TypeIntPtr, "1099511627776"},
		{"UIntPtr 32-bit", value(19, func(w *bw) { w.i32(-1) }), TypeUIntPtr, "4294967295"},
		{"UIntPtr 64-bit", value(19, func(w *bw) { w.i64(-1) }), TypeUIntPtr, "18446744073709551615"},
		{"Object", value(20, func(w *bw) { w.raw(nrbf("Shop.Cart", "Shop, Version=1.0.0.0", 7)) }), TypeObject,
			"Shop.Cart [Shop, Version=1.0.0.0], " + strconv.Itoa(len(nrbf("Shop.Cart", "Shop, Version=1.0.0.0", 7))) + " bytes"},
		{"Object not NRBF", value(20, func(w *bw) { w.raw([]byte{1, 2, 3}) }), TypeObject, "BinaryFormatter object, 3 bytes"},
		{"Null", vNull(), TypeNull, "null"},
	}
	seen := map[TypeID]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := session(30, []item{{name: "before", value: vInt32(1)}, {name: "x", value: tt.value}, {name: "after", value: vNull()}}, nil)
			s := mustDecode(t, b)
			if len(s.Items) != 3 {
				t.Fatalf("%d items", len(s.Items))
			}
			v := s.Items[1].Value
			if v.Type != tt.typ || v.TypeName != tt.typ.String() || v.Text != tt.text || v.Size != len(tt.value)-1 {
				t.Errorf("got %+v, want type %v text %s size %d", v, tt.typ, tt.text, len(tt.value)-1)
			}
			if (tt.typ == TypeString || tt.typ == TypeChar) != (v.String != nil) ||
				(v.String != nil && strconv.Quote(*v.String) != v.Text && strconv.QuoteRune([]rune(*v.String)[0]) != v.Text) {
				t.Errorf("String field %v for text %s", v.String, v.Text)
			}
			if s.Items[0].Value.Text != "1" || s.Items[2].Value.Type != TypeNull {
				t.Errorf("neighbours: %+v", s.Items)
			}
			seen[tt.typ] = true
		})
	}
	for id := TypeString; id <= TypeNull; id++ {
		if !seen[id] {
			t.Errorf("type %v not covered", id)
		}
	}
}

const decimalSign = -1 << 31 // the Decimal flags word with only the sign bit

func TestObjectClassNames(t *testing.T) {
	header := func() *bw { return (&bw{}).u8(0).i32(1).i32(-1).i32(1).i32(0) }
	tests := []struct {
		name            string
		stream          []byte
		class, assembly string
	}{
		{"class in a library", nrbf("My.Cart", "My, Version=2.0.0.0", 1), "My.Cart", "My, Version=2.0.0.0"},
		{"system class", header().u8(4).i32(1).str("System.Collections.Hashtable").i32(0).u8(11).b, "System.Collections.Hashtable", ""},
		{"string root", header().u8(6).i32(1).str("hi").u8(11).b, "System.String", ""},
		{"int array", header().u8(15).i32(1).i32(3).u8(8).i32(1).i32(2).i32(3).u8(11).b, "System.Int32[]", ""},
		{"object array", header().u8(16).i32(1).i32(0).u8(11).b, "System.Object[]", ""},
		{"string array", header().u8(17).i32(1).i32(0).u8(11).b, "System.String[]", ""},
		{"control chars in name", header().u8(5).i32(1).str("a\nb").b, `"a\nb"`, ""},
		{"cut after header", header().b, "", ""},
		{"not a header", []byte{11}, "", ""},
		{"empty", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustDecode(t, session(20, []item{{name: "o", value: append([]byte{20}, tt.stream...)}}, nil))
			v := s.Items[0].Value
			if v.Class != tt.class || v.Assembly != tt.assembly || v.Size != len(tt.stream) {
				t.Errorf("got %+v, want class %q assembly %q", v, tt.class, tt.assembly)
			}
		})
	}
}

func TestNullKey(t *testing.T) {
	for nullAt := 0; nullAt < 3; nullAt++ {
		items := []item{{name: "a", value: vString("A")}, {name: "b", value: vInt32(2)}, {name: "c", value: vNull()}}
		items[nullAt] = item{null: true, value: vString("under null")}
		s := mustDecode(t, session(20, items, nil))
		for i, it := range s.Items {
			if it.NullKey != (i == nullAt) || (it.NullKey && it.Name != "") || (!it.NullKey && it.Name != items[i].name) {
				t.Errorf("null key at %d: item %d = %+v", nullAt, i, it)
			}
		}
		if got := s.Items[nullAt].Value.Text; got != `"under null"` {
			t.Errorf("null key at %d: value %s", nullAt, got)
		}
	}
}

func TestStaticObjects(t *testing.T) {
	obj := nrbf("App.Catalog", "App", 3)
	statics := []staticObject{
		{name: "declared", typeName: "App.Basket", lateBound: true},
		{name: "text", value: vString("hi")},
		{name: "count", value: vInt32(9)},
		{name: "letter", value: value(7, func(w *bw) { w.raw([]byte("€")) })},
		{name: "handle", value: value(18, func(w *bw) { w.i64(77) })},
		{name: "nothing", value: vNull()},
		{name: "catalog", value: append([]byte{20}, obj...)},
	}
	b := session(45, []item{{name: "k", value: vInt32(1)}}, statics)
	s := mustDecode(t, b)
	if !s.HasStaticObjects || s.StaticObjectCount != 7 || len(s.StaticObjects) != 7 || s.StaticObjectsIncomplete || s.Timeout != 45 {
		t.Fatalf("got %+v", s)
	}
	want := []string{"", `"hi"`, "9", "'€'", "77", "null", "App.Catalog [App], " + strconv.Itoa(len(obj)) + " bytes"}
	for i, o := range s.StaticObjects {
		if o.Name != statics[i].name || o.HasInstance != (statics[i].value != nil) {
			t.Errorf("static %d: %+v", i, o)
			continue
		}
		if !o.HasInstance {
			if o.DeclaredType != "App.Basket" || !o.LateBound || o.Value != nil {
				t.Errorf("static %d: %+v", i, o)
			}
			continue
		}
		if o.Value.Text != want[i] {
			t.Errorf("static %d: %q, want %q", i, o.Value.Text, want[i])
		}
	}

	// Static objects alone, no items.
	s = mustDecode(t, session(20, nil, []staticObject{{name: "x", typeName: "T"}}))
	if s.HasItems || len(s.StaticObjects) != 1 || s.StaticObjects[0].LateBound {
		t.Errorf("statics only: %+v", s)
	}
	// A zero count is allowed.
	s = mustDecode(t, session(20, nil, []staticObject{}))
	if !s.HasStaticObjects || s.StaticObjectCount != 0 {
		t.Errorf("zero statics: %+v", s)
	}
}

// An Object static object that is not the last has no length: decoding
// stops there and says so.
func TestStaticObjectUndelimited(t *testing.T) {
	obj := append([]byte{20}, nrbf("App.Catalog", "App", 3)...)
	b := session(20, nil, []staticObject{{name: "first", value: vInt32(1)}, {name: "catalog", value: obj}, {name: "last", typeName: "T"}})
	s := mustDecode(t, b)
	if !s.StaticObjectsIncomplete || s.StaticObjectCount != 3 || len(s.StaticObjects) != 2 {
		t.Fatalf("got %+v", s)
	}
	if v := s.StaticObjects[1].Value; v.Class != "App.Catalog" || v.Size != -1 || !strings.Contains(v.Text, "size unknown") {
		t.Errorf("undelimited object: %+v", v)
	}
}

func TestCompressed(t *testing.T) {
	plain := session(20, []item{{name: "cart", value: vString(strings.Repeat("abc", 1000))}, {null: true, value: vInt32(4)}},
		[]staticObject{{name: "s", typeName: "T"}})
	z := compress(plain)
	if len(z) >= len(plain) {
		t.Fatalf("compressed %d bytes to %d", len(plain), len(z))
	}
	s := mustDecode(t, z)
	if !s.Compressed || s.StoredSize != len(z) || s.Size != len(plain) || s.ExtraBytes != 0 || len(s.Items) != 2 || !s.Items[1].NullKey ||
		len(s.StaticObjects) != 1 {
		t.Errorf("got %+v", s)
	}
	// Without the pad byte too.
	if s := mustDecode(t, z[:len(z)-1]); !s.Compressed || s.ExtraBytes != 0 {
		t.Errorf("without pad: %+v", s)
	}
	// The empty session, compressed.
	if s := mustDecode(t, compress(session(20, nil, nil))); !s.Compressed || s.Timeout != 20 {
		t.Errorf("empty compressed: %+v", s)
	}
	// Beyond the limit.
	if _, err := DecodeMax(z, len(plain)-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit %d: %v", len(plain)-1, err)
	}
	if _, err := DecodeMax(z, len(plain)); err != nil {
		t.Errorf("limit %d: %v", len(plain), err)
	}
	// A deflate stream of something that is not a session.
	if _, err := Decode(compress([]byte("just some text, not a session"))); !errors.Is(err, ErrNotSessionFormat) ||
		!strings.Contains(err.Error(), "compressed") {
		t.Errorf("compressed text: %v", err)
	}
}

func TestCompressedTruncated(t *testing.T) {
	plain := session(20, []item{{name: "a", value: vString(strings.Repeat("xyz", 50))}, {name: "b", value: vInt32(1)}}, nil)
	z := compress(plain)
	truncated := 0
	for n := 0; n < len(z)-1; n++ {
		_, err := Decode(z[:n])
		if err == nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrNotSessionFormat) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
		if errors.Is(err, ErrTruncated) {
			truncated++
		}
	}
	// Once the inflated bytes start like a session, a cut is reported as one.
	if truncated < len(z)/2 {
		t.Errorf("only %d of %d prefixes reported as truncated", truncated, len(z)-1)
	}
}

// richBlob has every kind of part, with nothing undelimited.
func richBlob() []byte {
	return session(20, []item{
		{name: "user", value: vString("alice")},
		{null: true, value: vInt32(1)},
		{name: "when", value: value(4, func(w *bw) { w.i64(638000000000000000) })},
		{name: "obj", value: append([]byte{20}, nrbf("A.B", "A", 1)...)},
		{name: "nil", value: vNull()},
	}, []staticObject{{name: "s1", value: vString("x")}, {name: "s2", typeName: "T", lateBound: true}})
}

func TestTruncatedAtEveryOffset(t *testing.T) {
	b := richBlob()
	mustDecode(t, b)
	for n := 0; n < len(b); n++ {
		_, err := Decode(b[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix of %d of %d bytes: %v", n, len(b), err)
		}
	}
}

func TestExtraBytesAfterTrailer(t *testing.T) {
	b := append(session(20, []item{{name: "a", value: vInt32(5)}}, nil), 1, 2, 3)
	if s := mustDecode(t, b); s.ExtraBytes != 3 || len(s.Items) != 1 {
		t.Errorf("got %+v", s)
	}
}

func TestNotSessionFormat(t *testing.T) {
	good := session(20, []item{{name: "a", value: vInt32(5)}, {name: "b", value: vInt32(6)}}, nil)
	// good: 14000000 01 00 | 02000000 ffffffff | 0161 0162 | 05000000 0a000000 | 02 05000000 02 06000000 | ff
	patch := func(off int, p ...byte) []byte {
		b := append([]byte(nil), good...)
		copy(b[off:], p)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"text", []byte("hello world, this is not a session"), ErrNotSessionFormat},
		{"html", []byte("<html><body>Session expired</body></html>"), ErrNotSessionFormat},
		{"items flag 2", patch(4, 2), ErrNotSessionFormat},
		{"statics flag 7", patch(5, 7), ErrNotSessionFormat},
		{"negative count", patch(6, 0xfe, 0xff, 0xff, 0xff), ErrNotSessionFormat},
		{"null key index out of range", patch(10, 2, 0, 0, 0), ErrNotSessionFormat},
		{"null key index -2", patch(10, 0xfe), ErrNotSessionFormat},
		{"offsets backwards", patch(18, 0x0a, 0, 0, 0, 0x05), ErrNotSessionFormat},
		{"type byte 0", patch(26, 0), ErrNotSessionFormat},
		{"type byte 22", patch(26, 22), ErrNotSessionFormat},
		{"Int32 value of 5 bytes", patch(18, 6, 0, 0, 0), ErrNotSessionFormat},
		{"empty value", patch(18, 0, 0, 0, 0), ErrNotSessionFormat},
		{"no trailer", patch(len(good)-1, 0xfe), ErrNotSessionFormat},
		{"length prefix of 6 bytes", session(20, []item{{name: "a", value: []byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}}}, nil), ErrNotSessionFormat},
		{"string value shorter than its slot", session(20, []item{{name: "a", value: []byte{1, 1, 'x', 'y'}}}, nil), ErrNotSessionFormat},
		{"Char of 4 bytes", session(20, []item{{name: "a", value: append([]byte{7}, "😀"...)}}, nil), ErrNotSessionFormat},
		{"Char invalid UTF-8", session(20, []item{{name: "a", value: []byte{7, 0xff}}}, nil), ErrNotSessionFormat},
		{"IntPtr of 5 bytes", session(20, []item{{name: "a", value: []byte{18, 1, 2, 3, 4, 5}}}, nil), ErrNotSessionFormat},
		{"huge count", patch(6, 0xff, 0xff, 0xff, 0x7f), ErrTruncated},
		{"huge name length", patch(14, 0xff, 0xff, 0xff, 0xff, 0x07), ErrTruncated},
		{"huge end offset", patch(22, 0xff, 0xff, 0xff, 0x7f), ErrTruncated},
		{"huge static count", (&bw{}).i32(20).boolean(false).boolean(true).i32(0x7fffffff).u8(0xff).b, ErrTruncated},
		{"empty", nil, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode(tt.b)
			if !errors.Is(err, tt.want) || s != nil {
				t.Errorf("got %v, %v; want %v", s, err, tt.want)
			}
		})
	}
}

func TestGarbageNeverDecodesOrPanics(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(200))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if _, err := DecodeMax(b, 1<<20); err == nil {
			// Possible in principle; check that it is at least consistent.
			if b[4] > 1 || b[5] > 1 {
				t.Logf("random input decoded: % x", b)
			}
		} else if !errors.Is(err, ErrNotSessionFormat) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("% x: %v wraps no sentinel", b, err)
		}
	}
	// Flipping any one byte of a good blob errors or decodes; never panics.
	good := richBlob()
	for i := range good {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), good...)
			b[i] ^= x
			DecodeMax(b, 1<<20)
		}
	}
}

// A huge count in a small input must not allocate for the count.
func TestNoAllocationFromLengths(t *testing.T) {
	b := (&bw{}).i32(20).boolean(true).boolean(false).i32(0x7fffffff).i32(-1).u8(0xff).b
	allocs := testing.AllocsPerRun(10, func() { Decode(b) })
	if allocs > 40 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestTextIsOneLine(t *testing.T) {
	s := mustDecode(t, session(20, []item{{name: "a", value: vString("line1\nline2\x00\x1b[31m")}}, nil))
	if txt := s.Items[0].Value.Text; strings.ContainsAny(txt, "\n\x00\x1b") || !utf8.ValidString(txt) {
		t.Errorf("text %q", txt)
	}
}
