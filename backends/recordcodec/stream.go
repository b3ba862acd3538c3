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

// StreamVersion is the stream format version in the file header.
const StreamVersion = 1

// fileMagic starts every stream; the header is fileMagic then StreamVersion.
const fileMagic = "ASPSREC"

const headerLen = len(fileMagic) + 1

// growStep bounds how much a Reader allocates ahead of the bytes that came.
const growStep = 1 << 20

// Writer writes a stream of records: the header, then each record. Call
// Flush at the end. Not safe for concurrent use.
type Writer struct {
	w      *bufio.Writer
	buf    []byte
	header bool  // the header was written
	err    error // the first write error; every later call returns it
}

// NewWriter returns a Writer that buffers its output to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

// Write appends one record to the stream. A key or Data over the limits
// gives ErrTooLarge and writes nothing; the stream stays usable.
func (w *Writer) Write(key string, rec *backends.Record, remaining time.Duration) error {
	if len(key) > MaxKeyLen || len(rec.Data) > MaxDataLen {
		return fmt.Errorf("%w: %d-byte key, %d-byte data (limits %d, %d)",
			ErrTooLarge, len(key), len(rec.Data), MaxKeyLen, MaxDataLen)
	}
	if err := w.writeHeader(); err != nil {
		return err
	}
	w.buf = Append(w.buf[:0], key, rec, remaining)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("recordcodec: write: %w", err)
	}
	if cap(w.buf) > growStep {
		w.buf = nil // a large record passed: let its buffer go
	}
	return w.err
}

// Flush writes the header (so that an empty stream is still a valid one)
// and everything buffered to the underlying writer.
func (w *Writer) Flush() error {
	if err := w.writeHeader(); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("recordcodec: flush: %w", err)
	}
	return w.err
}

func (w *Writer) writeHeader() error {
	if w.err != nil || w.header {
		return w.err
	}
	w.header = true
	if _, err := w.w.WriteString(fileMagic + string(rune(StreamVersion))); err != nil {
		w.err = fmt.Errorf("recordcodec: write: %w", err)
	}
	return w.err
}

// Reader reads a stream of records written by a Writer. Not safe for
// concurrent use.
type Reader struct {
	r      *bufio.Reader
	head   []byte // one record's bytes before its data, reused
	header bool   // the header was read and checked
	err    error  // sticky: returned by every call after the first failure
}

// NewReader returns a Reader of the stream in r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next record; its Data belongs to the caller. At the end
// of the stream it returns io.EOF; a stream cut inside its header or a
// record gives an error wrapping io.ErrUnexpectedEOF, and a damaged one an
// error wrapping ErrCorrupt. After an error every call returns it again.
func (r *Reader) Next() (key string, rec backends.Record, remaining time.Duration, err error) {
	if r.err == nil {
		key, rec, remaining, r.err = r.next()
	}
	if r.err != nil {
		return "", backends.Record{}, 0, r.err
	}
	return key, rec, remaining, nil
}

func (r *Reader) next() (string, backends.Record, time.Duration, error) {
	fail := func(err error) (string, backends.Record, time.Duration, error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", backends.Record{}, 0, fmt.Errorf("recordcodec: read: %w", err)
	}
	if !r.header {
		var h [headerLen]byte
		if _, err := io.ReadFull(r.r, h[:]); err != nil {
			return fail(err)
		}
		if string(h[:len(fileMagic)]) != fileMagic {
			return "", backends.Record{}, 0, fmt.Errorf("%w: not a record stream (bad magic)", ErrCorrupt)
		}
		if h[len(fileMagic)] != StreamVersion {
			return "", backends.Record{}, 0, fmt.Errorf("%w: stream version %d, want %d", ErrCorrupt, h[len(fileMagic)], StreamVersion)
		}
		r.header = true
	}
	v, err := r.r.ReadByte()
	if err == io.EOF {
		return "", backends.Record{}, 0, io.EOF // between records: the clean end
	} else if err != nil {
		return fail(err)
	}
	head := append(r.head[:0], v)
	// The key's length, the key and the fixed fields, then the data's
	// length; decodeHead checks the lengths before anything is sized by them.
	if head, err = r.readUvarint(head); err != nil {
		return fail(err)
	}
	_, _, _, _, _, herr := decodeHead(head)
	if herr != nil && !errors.Is(herr, io.ErrUnexpectedEOF) {
		return "", backends.Record{}, 0, herr
	}
	keyLen, _ := binary.Uvarint(head[1:])
	if head, err = r.readN(head, int(keyLen)+fixedLen); err != nil {
		return fail(err)
	}
	if head, err = r.readUvarint(head); err != nil {
		return fail(err)
	}
	key, rec, remaining, dataLen, _, err := decodeHead(head)
	if err != nil {
		return "", backends.Record{}, 0, err
	}
	r.head = head
	if cap(r.head) > growStep {
		r.head = nil
	}
	data, err := r.readN(make([]byte, 0, min(dataLen, growStep)), int(dataLen))
	if err != nil {
		return fail(err)
	}
	rec.Data = data
	return key, rec, remaining, nil
}

// readUvarint appends one uvarint's bytes (at most binary.MaxVarintLen64)
// to buf.
func (r *Reader) readUvarint(buf []byte) ([]byte, error) {
	for range 10 {
		c, err := r.r.ReadByte()
		if err != nil {
			return buf, err
		}
		buf = append(buf, c)
		if c < 0x80 {
			return buf, nil
		}
	}
	return buf, fmt.Errorf("%w: a length overflows 64 bits", ErrCorrupt)
}

// readN appends n bytes to buf, growing it at most growStep ahead of the
// bytes read, so that a length that lies costs no more than what came.
func (r *Reader) readN(buf []byte, n int) ([]byte, error) {
	for n > 0 {
		step := min(n, growStep)
		if cap(buf)-len(buf) < step {
			nb := make([]byte, len(buf), len(buf)+max(step, min(len(buf), n)))
			copy(nb, buf)
			buf = nb
		}
		got, err := io.ReadFull(r.r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+got]
		if err != nil {
			return buf, err
		}
		n -= step
	}
	return buf, nil
}
