package sessionformat

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x14, 0, 0, 0, 0, 0, 0xff})
	f.Add(session(20, []item{{name: "a", value: vInt32(5)}}, nil))
	f.Add(richBlob())
	f.Add(compress(richBlob()))
	f.Add(session(20, []item{{name: "s", value: vString("€")}, {null: true, value: value(7, func(w *bw) { w.raw([]byte("é")) })}},
		[]staticObject{{name: "o", value: append([]byte{20}, nrbf("A.B", "A", 1)...)}}))
	f.Add(session(20, nil, []staticObject{{name: "o", value: append([]byte{20}, nrbf("A.B", "A", 1)...)}, {name: "x", typeName: "T"}}))
	f.Add(session(20, []item{{name: "d", value: value(5, func(w *bw) { w.i32(1).i32(2).i32(3).i32(4 << 16) })}}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		s, err := DecodeMax(b, 1<<20)
		if string(in) != string(b) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if s != nil {
				t.Fatal("a Session with an error")
			}
			if !errors.Is(err, ErrNotSessionFormat) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if s.StoredSize != len(b) || (!s.Compressed && s.Size != len(b)) || s.Size > 1<<20 {
			t.Fatalf("sizes: %+v for %d bytes", s, len(b))
		}
		if s.HasItems != (s.Items != nil) || int(s.StaticObjectCount) < len(s.StaticObjects) {
			t.Fatalf("inconsistent: %+v", s)
		}
		check := func(v *Value) {
			if v.TypeName != v.Type.String() || strings.ContainsAny(v.Text, "\n\r") || !utf8.ValidString(v.Text) || v.Size < -1 {
				t.Fatalf("value %+v", v)
			}
		}
		nulls := 0
		for i := range s.Items {
			if s.Items[i].NullKey {
				nulls++
			}
			check(&s.Items[i].Value)
		}
		if nulls > 1 {
			t.Fatalf("%d null keys", nulls)
		}
		for _, o := range s.StaticObjects {
			if o.HasInstance != (o.Value != nil) {
				t.Fatalf("static %+v", o)
			}
			if o.Value != nil {
				check(o.Value)
			}
		}
	})
}
