package sessionformat

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math"
)

// The errors that Decode's errors wrap.
var (
	// ErrNotSessionFormat: the bytes cannot be a session as System.Web
	// writes one (plain or compressed).
	ErrNotSessionFormat = errors.New("not an ASP.NET session blob")
	// ErrTruncated: the bytes stop before the layout does.
	ErrTruncated = errors.New("truncated")
	// ErrTooLarge: a compressed blob inflates beyond the limit given to
	// DecodeMax (DefaultMaxInflated for Decode).
	ErrTooLarge = errors.New("inflates beyond the limit")
)

// DefaultMaxInflated is the most bytes Decode inflates a compressed blob to.
const DefaultMaxInflated = 64 << 20

// Session is one decoded blob.
type Session struct {
	// Timeout is the session's timeout in minutes, as the web server wrote it.
	Timeout int32 `json:"timeout"`
	// HasItems and HasStaticObjects are the two flags after the timeout.
	HasItems         bool `json:"has_items"`
	HasStaticObjects bool `json:"has_static_objects"`
	// Items in the order the web server wrote them.
	Items []Item `json:"items"`
	// StaticObjectCount is the count the blob declares; StaticObjects holds
	// them all unless StaticObjectsIncomplete (see the package doc).
	StaticObjectCount       int32          `json:"static_object_count"`
	StaticObjects           []StaticObject `json:"static_objects,omitempty"`
	StaticObjectsIncomplete bool           `json:"static_objects_incomplete,omitempty"`
	// Compressed is true when the blob was a deflate stream (compressionEnabled).
	Compressed bool `json:"compressed"`
	// StoredSize is the blob's length; Size is the length of the plain
	// stream (the same unless Compressed).
	StoredSize int `json:"stored_size"`
	Size       int `json:"size"`
	// ExtraBytes counts bytes after the end of the session (after the 0xFF
	// trailer, or after the deflate stream and its pad byte). The web server
	// ignores them.
	ExtraBytes int `json:"extra_bytes,omitempty"`
}

// Item is one entry of Session.Items.
type Item struct {
	// Name is the item's key; empty and NullKey set for the item stored
	// under a null key (at most one per session).
	Name    string `json:"name"`
	NullKey bool   `json:"null_key,omitempty"`
	Value   Value  `json:"value"`
}

// StaticObject is one entry of Session.StaticObjects: an instance when
// HasInstance, otherwise the declared type that the page will create.
type StaticObject struct {
	Name         string `json:"name"`
	HasInstance  bool   `json:"has_instance"`
	Value        *Value `json:"value,omitempty"`
	DeclaredType string `json:"declared_type,omitempty"`
	LateBound    bool   `json:"late_bound,omitempty"`
}

// Value is one serialized value: its type byte and a readable rendering.
type Value struct {
	Type     TypeID `json:"type_id"`
	TypeName string `json:"type"` // Type.String()
	// Text is the value for people: a quoted string, a number, a time, or
	// for an Object the class name and size. It is one line and printable.
	Text string `json:"text"`
	// String is, for a String or Char, the value itself, unquoted (for
	// programs; it may hold any character).
	String *string `json:"string,omitempty"`
	// Size is the payload's length in bytes, without the type byte; -1 when
	// it is not known (an undelimited static object).
	Size int `json:"size"`
	// Class and Assembly are, for an Object, the class and assembly names
	// read from the BinaryFormatter stream's first records, when found.
	Class    string `json:"class,omitempty"`
	Assembly string `json:"assembly,omitempty"`
}

// Decode reads a session blob, inflating it first when it is compressed.
func Decode(b []byte) (*Session, error) { return DecodeMax(b, DefaultMaxInflated) }

// DecodeMax is Decode with a limit on the size of an inflated blob.
func DecodeMax(b []byte, maxInflated int) (*Session, error) {
	s, perr := parse(b)
	if perr == nil {
		s.StoredSize = len(b)
		return s, nil
	}
	plain, used, ierr := inflate(b, maxInflated)
	if ierr == nil {
		s, err := parse(plain)
		if err == nil {
			s.Compressed = true
			s.StoredSize = len(b)
			rest := b[used:]
			if len(rest) > 0 && rest[0] == 0xff {
				rest = rest[1:] // the pad byte SessionStateUtility adds
			}
			s.ExtraBytes += len(rest)
			return s, nil
		}
		if !looksPlain(b) {
			return nil, fmt.Errorf("sessionformat: compressed session (%d bytes inflated to %d): %w", used, len(plain), err)
		}
		return nil, fmt.Errorf("sessionformat: %w", perr)
	}
	if !looksPlain(b) {
		switch {
		case errors.Is(ierr, ErrTooLarge):
			return nil, fmt.Errorf("sessionformat: compressed session: %w", ierr)
		case errors.Is(ierr, io.ErrUnexpectedEOF) && looksPlain(plain):
			return nil, fmt.Errorf("sessionformat: compressed session: %w: the deflate stream stops after inflating %d bytes", ErrTruncated, len(plain))
		}
	}
	return nil, fmt.Errorf("sessionformat: %w", perr)
}

// looksPlain reports whether b starts like an uncompressed session: a
// timeout and two flags that are 0 or 1.
func looksPlain(b []byte) bool {
	return len(b) >= 6 && b[4] <= 1 && b[5] <= 1
}

// inflate reads b as raw DEFLATE, up to max bytes of output. used is how
// many bytes of b the stream took. On error it returns what it inflated.
func inflate(b []byte, max int) (out []byte, used int, err error) {
	br := bytes.NewReader(b) // an io.ByteReader: flate reads no further than the stream
	fr := flate.NewReader(br)
	defer fr.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(fr, int64(max)+1))
	if n > int64(max) {
		return nil, 0, fmt.Errorf("%w of %d bytes", ErrTooLarge, max)
	}
	if err != nil {
		return buf.Bytes(), 0, err
	}
	return buf.Bytes(), len(b) - br.Len(), nil
}

// parse reads the plain (uncompressed) layout.
func parse(b []byte) (*Session, error) {
	r := &reader{b: b}
	s := &Session{Size: len(b)}
	var err error
	if s.Timeout, err = r.int32(); err != nil {
		return nil, fmt.Errorf("timeout: %w", err)
	}
	if s.HasItems, err = r.flag(); err != nil {
		return nil, fmt.Errorf("items flag: %w", err)
	}
	if s.HasStaticObjects, err = r.flag(); err != nil {
		return nil, fmt.Errorf("static objects flag: %w", err)
	}
	if s.HasItems {
		if s.Items, err = parseItems(r); err != nil {
			return nil, err
		}
	}
	if s.HasStaticObjects {
		if err := parseStaticObjects(r, s); err != nil {
			return nil, err
		}
		if s.StaticObjectsIncomplete {
			return s, nil
		}
	}
	at := r.off
	c, err := r.byte()
	if err != nil {
		return nil, fmt.Errorf("%w: the 0xFF trailer is missing (blob ends at byte %d)", ErrTruncated, at)
	}
	if c != 0xff {
		return nil, fmt.Errorf("%w: byte %d is 0x%02x where the 0xFF trailer belongs", ErrNotSessionFormat, at, c)
	}
	s.ExtraBytes = r.left()
	return s, nil
}

func parseItems(r *reader) ([]Item, error) {
	count, err := r.int32()
	if err != nil {
		return nil, fmt.Errorf("item count: %w", err)
	}
	if count < 0 {
		return nil, fmt.Errorf("%w: item count %d at byte %d", ErrNotSessionFormat, count, r.off-4)
	}
	if count == 0 {
		return []Item{}, nil
	}
	nullKey, err := r.int32()
	if err != nil {
		return nil, fmt.Errorf("null key index: %w", err)
	}
	if nullKey < -1 || nullKey >= count {
		return nil, fmt.Errorf("%w: null key index %d for %d items at byte %d", ErrNotSessionFormat, nullKey, count, r.off-4)
	}
	// Each item takes at least a 4-byte end offset and a type byte: check
	// the count against what remains before allocating for it.
	if int64(count)*5 > int64(r.left()) {
		return nil, fmt.Errorf("%w: %d items need at least %d bytes, %d remain after byte %d",
			ErrTruncated, count, int64(count)*5, r.left(), r.off)
	}
	// Grow the items as their names arrive rather than trust the count:
	// a count that lies costs no more than the bytes that back it.
	items := make([]Item, 0, min(int(count), 1024))
	for i := 0; i < int(count); i++ {
		var it Item
		if i == int(nullKey) {
			it.NullKey = true
		} else if it.Name, err = r.string(); err != nil {
			return nil, fmt.Errorf("name of item %d: %w", i, err)
		}
		items = append(items, it)
	}
	if 4*len(items) > r.left() {
		return nil, fmt.Errorf("%w: the %d end offsets at byte %d need %d bytes, %d remain",
			ErrTruncated, count, r.off, 4*len(items), r.left())
	}
	ends := make([]int, len(items))
	prev := 0
	for i := range ends {
		at := r.off
		e, _ := r.int32() // length checked above
		if int(e) < prev {
			return nil, fmt.Errorf("%w: item %d's end offset %d (byte %d) is before the previous end %d",
				ErrNotSessionFormat, i, e, at, prev)
		}
		ends[i], prev = int(e), int(e)
	}
	start := r.off
	if prev > r.left() {
		return nil, fmt.Errorf("%w: the values from byte %d take %d bytes, %d remain", ErrTruncated, start, prev, r.left())
	}
	prev = 0
	for i, e := range ends {
		v := r.b[start+prev : start+e]
		if len(v) == 0 {
			return nil, fmt.Errorf("%w: item %d's value at byte %d is empty (no type byte)", ErrNotSessionFormat, i, start+prev)
		}
		if items[i].Value, err = decodeValue(TypeID(v[0]), v[1:]); err != nil {
			return nil, fmt.Errorf("value of item %d at byte %d: %w", i, start+prev, err)
		}
		prev = e
	}
	r.off = start + prev
	return items, nil
}

func parseStaticObjects(r *reader, s *Session) error {
	n, err := r.int32()
	if err != nil {
		return fmt.Errorf("static object count: %w", err)
	}
	if n < 0 {
		return fmt.Errorf("%w: static object count %d at byte %d", ErrNotSessionFormat, n, r.off-4)
	}
	s.StaticObjectCount = n
	// Each takes at least a name length and a flag.
	if int64(n)*2 > int64(r.left()) {
		return fmt.Errorf("%w: %d static objects need at least %d bytes, %d remain after byte %d",
			ErrTruncated, n, int64(n)*2, r.left(), r.off)
	}
	s.StaticObjects = make([]StaticObject, 0, min(int(n), 64))
	for i := 0; i < int(n); i++ {
		var o StaticObject
		if o.Name, err = r.string(); err != nil {
			return fmt.Errorf("name of static object %d: %w", i, err)
		}
		if o.HasInstance, err = r.flag(); err != nil {
			return fmt.Errorf("instance flag of static object %d: %w", i, err)
		}
		if !o.HasInstance {
			if o.DeclaredType, err = r.string(); err != nil {
				return fmt.Errorf("type of static object %d: %w", i, err)
			}
			if o.LateBound, err = r.flag(); err != nil {
				return fmt.Errorf("late-bound flag of static object %d: %w", i, err)
			}
			s.StaticObjects = append(s.StaticObjects, o)
			continue
		}
		at := r.off
		t, err := r.byte()
		if err != nil {
			return fmt.Errorf("type of static object %d: %w", i, err)
		}
		var v Value
		if TypeID(t) == TypeObject {
			if i < int(n)-1 {
				// Nothing delimits it: stop here (see the package doc).
				v = objectValue(r.b[r.off:], -1)
				o.Value = &v
				s.StaticObjects = append(s.StaticObjects, o)
				s.StaticObjectsIncomplete = true
				return nil
			}
			// The last one: everything up to the trailer. A BinaryFormatter
			// stream ends with a MessageEnd record (11).
			if r.left() < 2 || r.b[len(r.b)-1] != 0xff || r.b[len(r.b)-2] != 11 {
				return fmt.Errorf("%w: static object %d, a BinaryFormatter object from byte %d, does not end in MessageEnd and the 0xFF trailer",
					ErrTruncated, i, r.off)
			}
			p, _ := r.take(r.left() - 1)
			v = objectValue(p, len(p))
		} else {
			p, err := r.valueBytes(TypeID(t))
			if err != nil {
				return fmt.Errorf("value of static object %d at byte %d: %w", i, at, err)
			}
			if v, err = decodeValue(TypeID(t), p); err != nil {
				return fmt.Errorf("value of static object %d at byte %d: %w", i, at, err)
			}
		}
		o.Value = &v
		s.StaticObjects = append(s.StaticObjects, o)
	}
	return nil
}

// reader walks a byte slice; its methods return ErrTruncated errors that say
// where.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, fmt.Errorf("%w at byte %d: need %d, have %d bytes", ErrTruncated, r.off, n, r.left())
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) byte() (byte, error) {
	p, err := r.take(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (r *reader) int32() (int32, error) {
	p, err := r.take(4)
	if err != nil {
		return 0, err
	}
	return int32(le32(p)), nil
}

// flag reads a Boolean as BinaryWriter writes it: 0 or 1.
func (r *reader) flag() (bool, error) {
	at := r.off
	c, err := r.byte()
	if err != nil {
		return false, err
	}
	if c > 1 {
		return false, fmt.Errorf("%w: byte %d is %d where a Boolean (0 or 1) belongs", ErrNotSessionFormat, at, c)
	}
	return c == 1, nil
}

// string reads a BinaryWriter string: a 7-bit length, then UTF-8 bytes.
func (r *reader) string() (string, error) {
	at := r.off
	n, err := r.length()
	if err != nil {
		return "", err
	}
	if n > r.left() {
		return "", fmt.Errorf("%w: the %d-byte string at byte %d has %d bytes left", ErrTruncated, n, at, r.left())
	}
	p, _ := r.take(n)
	return string(p), nil
}

// length reads a .NET 7-bit encoded int32: at most 5 bytes, not negative.
func (r *reader) length() (int, error) {
	at := r.off
	var n uint64
	for shift := 0; ; shift += 7 {
		if shift == 35 {
			return 0, fmt.Errorf("%w: the string length at byte %d is longer than 5 bytes", ErrNotSessionFormat, at)
		}
		c, err := r.byte()
		if err != nil {
			return 0, fmt.Errorf("string length: %w", err)
		}
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: string length %d at byte %d is beyond an int32", ErrNotSessionFormat, n, at)
	}
	return int(n), nil
}

// valueBytes takes the payload of a value of type t that has no end offset
// (a static object's instance), using what the type tells of its length.
// IntPtr and UIntPtr are taken as 8 bytes. Not for TypeObject.
func (r *reader) valueBytes(t TypeID) ([]byte, error) {
	switch t {
	case TypeString:
		start := r.off
		n, err := r.length()
		if err != nil {
			return nil, err
		}
		if n > r.left() {
			return nil, fmt.Errorf("%w: the %d-byte string at byte %d has %d bytes left", ErrTruncated, n, start, r.left())
		}
		hdr := r.off - start
		r.off = start
		return r.take(hdr + n)
	case TypeChar:
		if r.left() < 1 {
			return r.take(1)
		}
		switch c := r.b[r.off]; {
		case c < 0x80:
			return r.take(1)
		case c&0xe0 == 0xc0:
			return r.take(2)
		case c&0xf0 == 0xe0:
			return r.take(3)
		default:
			return nil, fmt.Errorf("%w: byte %d (0x%02x) does not start a UTF-8 char", ErrNotSessionFormat, r.off, c)
		}
	case TypeIntPtr, TypeUIntPtr:
		return r.take(8)
	}
	if size, ok := fixedSize(t); ok {
		return r.take(size)
	}
	return nil, fmt.Errorf("%w: unknown type byte %d at byte %d", ErrNotSessionFormat, byte(t), r.off-1)
}

func le16(p []byte) uint16 { return uint16(p[0]) | uint16(p[1])<<8 }
func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}
func le64(p []byte) uint64 { return uint64(le32(p)) | uint64(le32(p[4:]))<<32 }
