package sessionformat

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// TypeID is the byte in front of every value (System.Web's
// AltSerialization.TypeID), which says how its payload is written.
type TypeID byte

// The type IDs and their payloads.
const (
	TypeString   TypeID = 1  // BinaryWriter string
	TypeInt32    TypeID = 2  // 4 bytes
	TypeBoolean  TypeID = 3  // 1 byte
	TypeDateTime TypeID = 4  // int64 ticks (100 ns since 0001-01-01); the Kind is not kept
	TypeDecimal  TypeID = 5  // four int32: low, middle and high 32 bits, then sign and scale
	TypeByte     TypeID = 6  // 1 byte
	TypeChar     TypeID = 7  // one UTF-16 code unit as UTF-8: 1 to 3 bytes
	TypeSingle   TypeID = 8  // IEEE 754, 4 bytes
	TypeDouble   TypeID = 9  // IEEE 754, 8 bytes
	TypeSByte    TypeID = 10 // 1 byte
	TypeInt16    TypeID = 11 // 2 bytes
	TypeInt64    TypeID = 12 // 8 bytes
	TypeUInt16   TypeID = 13 // 2 bytes
	TypeUInt32   TypeID = 14 // 4 bytes
	TypeUInt64   TypeID = 15 // 8 bytes
	TypeTimeSpan TypeID = 16 // int64 ticks
	TypeGuid     TypeID = 17 // 16 bytes, Guid.ToByteArray order
	TypeIntPtr   TypeID = 18 // 4 or 8 bytes, the web server's pointer size
	TypeUIntPtr  TypeID = 19 // 4 or 8 bytes
	TypeObject   TypeID = 20 // a BinaryFormatter stream, no length of its own
	TypeNull     TypeID = 21 // no payload
)

var typeNames = [...]string{"", "String", "Int32", "Boolean", "DateTime", "Decimal", "Byte", "Char",
	"Single", "Double", "SByte", "Int16", "Int64", "UInt16", "UInt32", "UInt64", "TimeSpan", "Guid",
	"IntPtr", "UIntPtr", "Object", "Null"}

// String is the .NET type's name ("Int32"), or "type N" for a byte that is
// not a type ID.
func (t TypeID) String() string {
	if t >= 1 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// fixedSize is the payload size of the types whose size never varies.
func fixedSize(t TypeID) (int, bool) {
	switch t {
	case TypeBoolean, TypeByte, TypeSByte:
		return 1, true
	case TypeInt16, TypeUInt16:
		return 2, true
	case TypeInt32, TypeUInt32, TypeSingle:
		return 4, true
	case TypeDateTime, TypeDouble, TypeInt64, TypeUInt64, TypeTimeSpan:
		return 8, true
	case TypeDecimal, TypeGuid:
		return 16, true
	case TypeNull:
		return 0, true
	}
	return 0, false
}

// decodeValue renders the payload p of a value of type t. p must be exactly
// the payload: a size that does not fit the type is an error.
func decodeValue(t TypeID, p []byte) (Value, error) {
	v := Value{Type: t, TypeName: t.String(), Size: len(p)}
	bad := func(want string) (Value, error) {
		return Value{}, fmt.Errorf("%w: a %s value of %d bytes (want %s)", ErrNotSessionFormat, t, len(p), want)
	}
	if size, ok := fixedSize(t); ok && len(p) != size {
		return bad(strconv.Itoa(size))
	}
	switch t {
	case TypeString:
		r := &reader{b: p}
		s, err := r.string()
		if err != nil {
			return Value{}, fmt.Errorf("String value: %w", err)
		}
		if r.left() != 0 {
			return bad("the string's own length, " + strconv.Itoa(r.off))
		}
		v.Text, v.String = strconv.Quote(s), &s
	case TypeInt32:
		v.Text = strconv.FormatInt(int64(int32(le32(p))), 10)
	case TypeBoolean:
		v.Text = strconv.FormatBool(p[0] != 0)
	case TypeDateTime:
		v.Text = formatDateTime(int64(le64(p)))
	case TypeDecimal:
		v.Text = formatDecimal(le32(p), le32(p[4:]), le32(p[8:]), le32(p[12:]))
	case TypeByte:
		v.Text = strconv.Itoa(int(p[0]))
	case TypeChar:
		c, n := utf8.DecodeRune(p)
		if len(p) == 0 || len(p) > 3 || n != len(p) || (c == utf8.RuneError && n < 3) {
			return bad("one UTF-8 encoded char")
		}
		str := string(c)
		v.Text, v.String = strconv.QuoteRune(c), &str
	case TypeSingle:
		v.Text = strconv.FormatFloat(float64(math.Float32frombits(le32(p))), 'g', -1, 32)
	case TypeDouble:
		v.Text = strconv.FormatFloat(math.Float64frombits(le64(p)), 'g', -1, 64)
	case TypeSByte:
		v.Text = strconv.Itoa(int(int8(p[0])))
	case TypeInt16:
		v.Text = strconv.Itoa(int(int16(le16(p))))
	case TypeInt64:
		v.Text = strconv.FormatInt(int64(le64(p)), 10)
	case TypeUInt16:
		v.Text = strconv.FormatUint(uint64(le16(p)), 10)
	case TypeUInt32:
		v.Text = strconv.FormatUint(uint64(le32(p)), 10)
	case TypeUInt64:
		v.Text = strconv.FormatUint(le64(p), 10)
	case TypeTimeSpan:
		v.Text = formatTimeSpan(int64(le64(p)))
	case TypeGuid:
		v.Text = fmt.Sprintf("%08x-%04x-%04x-%x-%x", le32(p), le16(p[4:]), le16(p[6:]), p[8:10], p[10:16])
	case TypeIntPtr:
		switch len(p) {
		case 4:
			v.Text = strconv.FormatInt(int64(int32(le32(p))), 10)
		case 8:
			v.Text = strconv.FormatInt(int64(le64(p)), 10)
		default:
			return bad("4 or 8")
		}
	case TypeUIntPtr:
		switch len(p) {
		case 4:
			v.Text = strconv.FormatUint(uint64(le32(p)), 10)
		case 8:
			v.Text = strconv.FormatUint(le64(p), 10)
		default:
			return bad("4 or 8")
		}
	case TypeObject:
		return objectValue(p, len(p)), nil
	case TypeNull:
		v.Text = "null"
	default:
		return Value{}, fmt.Errorf("%w: unknown type byte %d", ErrNotSessionFormat, byte(t))
	}
	return v, nil
}

// objectValue describes a BinaryFormatter stream p, of size bytes (-1:
// unknown, p then runs on past it).
func objectValue(p []byte, size int) Value {
	v := Value{Type: TypeObject, TypeName: TypeObject.String(), Size: size}
	v.Class, v.Assembly = objectClass(p)
	var b strings.Builder
	if v.Class != "" {
		b.WriteString(v.Class)
		if v.Assembly != "" {
			b.WriteString(" [" + v.Assembly + "]")
		}
	} else {
		b.WriteString("BinaryFormatter object")
	}
	if size >= 0 {
		fmt.Fprintf(&b, ", %d bytes", size)
	} else {
		b.WriteString(", size unknown")
	}
	v.Text = b.String()
	return v
}

// objectClass reads the first records of a BinaryFormatter stream ([MS-NRBF]):
// the header, the libraries (assemblies) declared before the root object,
// and the root object's class name. It gives up quietly ("", "") on
// anything else.
func objectClass(p []byte) (class, assembly string) {
	r := &reader{b: p}
	if c, err := r.byte(); err != nil || c != 0 { // SerializedStreamHeader
		return "", ""
	}
	if _, err := r.take(16); err != nil { // root id, header id, major and minor version
		return "", ""
	}
	for range 8 {
		rec, err := r.byte()
		if err != nil {
			return "", ""
		}
		switch rec {
		case 12: // BinaryLibrary: library id, name
			if _, err := r.int32(); err != nil {
				return "", ""
			}
			if assembly, err = r.string(); err != nil {
				return "", ""
			}
			assembly = printable(assembly)
		case 2, 3, 4, 5: // (System)ClassWithMembers(AndTypes): ClassInfo = object id, name, ...
			if _, err := r.int32(); err != nil {
				return "", ""
			}
			name, err := r.string()
			if err != nil {
				return "", ""
			}
			if rec == 2 || rec == 4 {
				assembly = "" // a system class: mscorlib
			}
			return printable(name), assembly
		case 6: // BinaryObjectString
			return "System.String", ""
		case 8: // MemberPrimitiveTyped: a boxed primitive
			t, err := r.byte()
			if err != nil {
				return "", ""
			}
			return primitiveName(t), ""
		case 15: // ArraySinglePrimitive: object id, length, primitive type
			if _, err := r.take(8); err != nil {
				return "", ""
			}
			t, err := r.byte()
			if err != nil || primitiveName(t) == "" {
				return "", ""
			}
			return primitiveName(t) + "[]", ""
		case 16: // ArraySingleObject
			return "System.Object[]", ""
		case 17: // ArraySingleString
			return "System.String[]", ""
		default:
			return "", ""
		}
	}
	return "", ""
}

// primitiveName names an [MS-NRBF] PrimitiveTypeEnumeration value.
func primitiveName(t byte) string {
	if n, ok := primitiveNames[t]; ok {
		return "System." + n
	}
	return ""
}

var primitiveNames = map[byte]string{1: "Boolean", 2: "Byte", 3: "Char", 5: "Decimal", 6: "Double", 7: "Int16",
	8: "Int32", 9: "Int64", 10: "SByte", 11: "Single", 12: "TimeSpan", 13: "DateTime", 14: "UInt16",
	15: "UInt32", 16: "UInt64", 18: "String"}

// printable returns s unchanged when every rune is printable, otherwise
// quoted, so that a name from the blob cannot break a line of output.
func printable(s string) string {
	for _, c := range s {
		if !unicode.IsPrint(c) || c == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// .NET's DateTime range in ticks: 0001-01-01 to 9999-12-31T23:59:59.9999999.
const (
	ticksPerSecond = 10_000_000
	ticksPerDay    = 86400 * ticksPerSecond
	maxTicks       = 3155378975999999999
)

// formatDateTime renders ticks as .NET's round-trip format for a DateTime of
// unspecified kind: 2024-03-05T14:07:09.1234567.
func formatDateTime(ticks int64) string {
	if ticks < 0 || ticks > maxTicks {
		return "invalid DateTime (ticks " + strconv.FormatInt(ticks, 10) + ")"
	}
	days, rem := ticks/ticksPerDay, ticks%ticksPerDay
	t := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days)).Add(time.Duration(rem/ticksPerSecond) * time.Second)
	return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%07d", rem%ticksPerSecond)
}

// formatTimeSpan renders ticks as .NET's TimeSpan.ToString: [-][d.]hh:mm:ss[.fffffff].
func formatTimeSpan(ticks int64) string {
	var b strings.Builder
	u := uint64(ticks)
	if ticks < 0 {
		b.WriteByte('-')
		u = -u
	}
	days, rem := u/ticksPerDay, u%ticksPerDay
	if days > 0 {
		fmt.Fprintf(&b, "%d.", days)
	}
	secs := rem / ticksPerSecond
	fmt.Fprintf(&b, "%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	if f := rem % ticksPerSecond; f != 0 {
		fmt.Fprintf(&b, ".%07d", f)
	}
	return b.String()
}

// formatDecimal renders a System.Decimal from Decimal.GetBits' four words,
// keeping its scale (1.50 stays 1.50, as .NET prints it).
func formatDecimal(lo, mid, hi, flags uint32) string {
	scale := int(flags >> 16 & 0xff)
	if flags&0x7f00ffff != 0 || scale > 28 {
		return fmt.Sprintf("invalid Decimal (bits %08x %08x %08x %08x)", lo, mid, hi, flags)
	}
	n := new(big.Int).SetUint64(uint64(hi))
	n.Lsh(n, 64).Or(n, new(big.Int).SetUint64(uint64(mid)<<32|uint64(lo)))
	digits := n.String()
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	s := digits
	if scale > 0 {
		s = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if flags>>31 != 0 && n.Sign() != 0 {
		s = "-" + s
	}
	return s
}
