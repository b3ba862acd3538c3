package sessionformat

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"math"
)

// The test's own writer of the layout, built from the description in
// protocol.md §6 (and not from the decoder): .NET BinaryWriter conventions,
// little-endian integers and 7-bit encoded string lengths.

type bw struct{ b []byte }

func (w *bw) u8(c byte) *bw    { w.b = append(w.b, c); return w }
func (w *bw) raw(p []byte) *bw { w.b = append(w.b, p...); return w }
func (w *bw) i16(v int16) *bw  { w.b = binary.LittleEndian.AppendUint16(w.b, uint16(v)); return w }
func (w *bw) i32(v int32) *bw  { w.b = binary.LittleEndian.AppendUint32(w.b, uint32(v)); return w }
func (w *bw) i64(v int64) *bw  { w.b = binary.LittleEndian.AppendUint64(w.b, uint64(v)); return w }
func (w *bw) f32(v float32) *bw {
	w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(v))
	return w
}
func (w *bw) f64(v float64) *bw {
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v))
	return w
}
func (w *bw) boolean(v bool) *bw { return w.u8(map[bool]byte{false: 0, true: 1}[v]) }

// len7 writes n as BinaryWriter.Write7BitEncodedInt does.
func (w *bw) len7(n int) *bw {
	u := uint32(n)
	for u >= 0x80 {
		w.b = append(w.b, byte(u)|0x80)
		u >>= 7
	}
	return w.u8(byte(u))
}

// str writes a BinaryWriter string.
func (w *bw) str(s string) *bw { return w.len7(len(s)).raw([]byte(s)) }

// A value is its type byte and payload, as AltSerialization writes it.
func value(typeID byte, fill func(w *bw)) []byte {
	w := &bw{}
	w.u8(typeID)
	if fill != nil {
		fill(w)
	}
	return w.b
}

func vString(s string) []byte { return value(1, func(w *bw) { w.str(s) }) }
func vInt32(v int32) []byte   { return value(2, func(w *bw) { w.i32(v) }) }
func vNull() []byte           { return value(21, nil) }

// item is one entry for session: a null key when null is set.
type item struct {
	name  string
	null  bool
	value []byte
}

// staticObject is one entry of the static objects: value (type byte and
// payload) when it has an instance, else the declared type.
type staticObject struct {
	name      string
	value     []byte
	typeName  string
	lateBound bool
}

// session writes a whole blob: timeout, flags, the items (keys, end offsets,
// values), the static objects and the 0xFF trailer. statics nil means no
// static objects.
func session(timeout int32, items []item, statics []staticObject) []byte {
	w := &bw{}
	w.i32(timeout).boolean(len(items) > 0).boolean(statics != nil)
	if len(items) > 0 {
		w.i32(int32(len(items)))
		nullIndex := int32(-1)
		for i, it := range items {
			if it.null {
				nullIndex = int32(i)
			}
		}
		w.i32(nullIndex)
		for _, it := range items {
			if !it.null {
				w.str(it.name)
			}
		}
		end := 0
		for _, it := range items {
			end += len(it.value)
			w.i32(int32(end))
		}
		for _, it := range items {
			w.raw(it.value)
		}
	}
	if statics != nil {
		w.i32(int32(len(statics)))
		for _, o := range statics {
			w.str(o.name).boolean(o.value != nil)
			if o.value != nil {
				w.raw(o.value)
			} else {
				w.str(o.typeName).boolean(o.lateBound)
			}
		}
	}
	return w.u8(0xff).b
}

// compress does what SessionStateUtility does with compressionEnabled: raw
// DEFLATE of the whole stream, then one 0xFF byte.
func compress(plain []byte) []byte {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	zw.Write(plain)
	zw.Close()
	return append(buf.Bytes(), 0xff)
}

// nrbf writes the start of a BinaryFormatter stream for an object of class
// in assembly: header, BinaryLibrary, ClassWithMembersAndTypes with one
// Int32 member, MessageEnd.
func nrbf(class, assembly string, member int32) []byte {
	w := &bw{}
	w.u8(0).i32(1).i32(-1).i32(1).i32(0)      // SerializedStreamHeader
	w.u8(12).i32(2).str(assembly)             // BinaryLibrary
	w.u8(5).i32(1).str(class).i32(1).str("n") // ClassWithMembersAndTypes: ClassInfo
	w.u8(0).u8(8).i32(2)                      // MemberTypeInfo: Primitive Int32; LibraryId
	w.i32(member)                             // the member's value
	return w.u8(11).b                         // MessageEnd
}
