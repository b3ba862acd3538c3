package recordcodec

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aspstate/aspstate/backends"
)

const (
	version = 1
	// MaxKey bounds a key: far above any real session key (about 100 bytes).
	MaxKey = 64 << 10
	// MaxData bounds a blob: above the largest body a gateway accepts.
	MaxData = 64 << 20

	flagUninitialized = 1 << iota
	flagLocked
	flagLockDate
)

// ErrMalformed: the input is not a record this package wrote.
var ErrMalformed = errors.New("recordcodec: malformed record")

// Append appends the encoding of one record to dst.
func Append(dst []byte, key string, rec *backends.Record, remaining time.Duration) []byte {
	var f byte
	if rec.Uninitialized {
		f |= flagUninitialized
	}
	if rec.Locked {
		f |= flagLocked
	}
	if !rec.LockDate.IsZero() {
		f |= flagLockDate
	}
	dst = append(dst, version, f)
	dst = binary.BigEndian.AppendUint32(dst, uint32(rec.Timeout))
	dst = binary.BigEndian.AppendUint32(dst, uint32(rec.LockCookie))
	if f&flagLockDate != 0 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(rec.LockDate.UnixNano()))
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(remaining))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(rec.Data)))
	return append(dst, rec.Data...)
}

// Decode decodes one record from the start of b and reports how many bytes it
// used. The key is a fresh string; rec.Data aliases b (never nil).
func Decode(b []byte) (key string, rec backends.Record, remaining time.Duration, n int, err error) {
	p := b
	if len(p) < 10 {
		return "", rec, 0, 0, fmt.Errorf("%w: short header", ErrMalformed)
	}
	if p[0] != version {
		return "", rec, 0, 0, fmt.Errorf("%w: version %d", ErrMalformed, p[0])
	}
	f := p[1]
	if f&^(flagUninitialized|flagLocked|flagLockDate) != 0 {
		return "", rec, 0, 0, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, f)
	}
	rec.Uninitialized, rec.Locked = f&flagUninitialized != 0, f&flagLocked != 0
	rec.Timeout = int32(binary.BigEndian.Uint32(p[2:]))
	rec.LockCookie = int32(binary.BigEndian.Uint32(p[6:]))
	p = p[10:]
	if f&flagLockDate != 0 {
		if len(p) < 8 {
			return "", rec, 0, 0, fmt.Errorf("%w: short lock date", ErrMalformed)
		}
		rec.LockDate = time.Unix(0, int64(binary.BigEndian.Uint64(p))).UTC()
		p = p[8:]
	}
	if len(p) < 8 {
		return "", rec, 0, 0, fmt.Errorf("%w: short lifetime", ErrMalformed)
	}
	remaining = time.Duration(binary.BigEndian.Uint64(p))
	p = p[8:]
	k, p, ok := field(p, MaxKey)
	if !ok {
		return "", rec, 0, 0, fmt.Errorf("%w: bad key length", ErrMalformed)
	}
	d, p, ok := field(p, MaxData)
	if !ok {
		return "", rec, 0, 0, fmt.Errorf("%w: bad data length", ErrMalformed)
	}
	rec.Data = d[:len(d):len(d)]
	return string(k), rec, remaining, len(b) - len(p), nil
}

// field reads a uvarint length and that many bytes.
func field(p []byte, max uint64) (val, rest []byte, ok bool) {
	n, used := binary.Uvarint(p)
	// A length has one encoding: a padded one is refused, so a record
	// decodes only from the bytes Append would write.
	if used <= 0 || used != len(binary.AppendUvarint(nil, n)) || n > max || n > uint64(len(p)-used) {
		return nil, nil, false
	}
	p = p[used:]
	return p[:n], p[n:], true
}

// magic starts every stream.
const magic = "ASPSTATE-RECORDS"

// Writer writes a stream of records.
type Writer struct {
	w       *bufio.Writer
	buf     []byte
	started bool
}

// NewWriter returns a Writer on w; the header is written with the first record
// (or by Flush, for an empty stream).
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

func (w *Writer) header() error {
	if w.started {
		return nil
	}
	w.started = true
	_, err := w.w.WriteString(magic + "\x01")
	return err
}

// Write appends one record to the stream.
func (w *Writer) Write(key string, rec *backends.Record, remaining time.Duration) error {
	if err := w.header(); err != nil {
		return err
	}
	w.buf = Append(w.buf[:0], key, rec, remaining)
	var l [binary.MaxVarintLen64]byte
	if _, err := w.w.Write(l[:binary.PutUvarint(l[:], uint64(len(w.buf)))]); err != nil {
		return err
	}
	_, err := w.w.Write(w.buf)
	return err
}

// Flush writes what is buffered (and the header of an empty stream).
func (w *Writer) Flush() error {
	if err := w.header(); err != nil {
		return err
	}
	return w.w.Flush()
}

// Reader reads a stream of records.
type Reader struct {
	r       *bufio.Reader
	buf     []byte
	started bool
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next record, or io.EOF after the last. rec.Data is valid
// until the next call.
func (r *Reader) Next() (key string, rec backends.Record, remaining time.Duration, err error) {
	if !r.started {
		var h [len(magic) + 1]byte
		if _, err := io.ReadFull(r.r, h[:]); err != nil {
			return "", rec, 0, fmt.Errorf("%w: no stream header: %v", ErrMalformed, err)
		}
		if string(h[:len(magic)]) != magic || h[len(magic)] != version {
			return "", rec, 0, fmt.Errorf("%w: not a record stream (or another version)", ErrMalformed)
		}
		r.started = true
	}
	n, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		return "", rec, 0, io.EOF
	}
	if err != nil {
		return "", rec, 0, fmt.Errorf("%w: record length: %v", ErrMalformed, err)
	}
	if n > MaxKey+MaxData+64 {
		return "", rec, 0, fmt.Errorf("%w: record of %d bytes", ErrMalformed, n)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return "", rec, 0, fmt.Errorf("%w: truncated record: %v", ErrMalformed, err)
	}
	key, rec, remaining, used, err := Decode(r.buf)
	if err != nil {
		return "", rec, 0, err
	}
	if used != len(r.buf) {
		return "", rec, 0, fmt.Errorf("%w: %d bytes after a record", ErrMalformed, len(r.buf)-used)
	}
	return key, rec, remaining, nil
}
