package link

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame layout (big endian):
//
//	u32 length of the payload that follows the header
//	u8  type (tHello, tRequest, ...)
//	u8  flags (flagMore: more chunks of this message follow)
//	u8  kind (the application's kind byte; 0 for link frames)
//	u64 request ID (pings carry their send time)
//	payload
//
// A message larger than chunkSize goes out as several frames with the same
// type and ID, every one but the last flagged flagMore, so the writer can
// interleave other messages between them.
const (
	headerSize = 15
	chunkSize  = 64 << 10
	// readBuffer holds a TLS record's plaintext (16 KiB) and more.
	readBuffer = 32 << 10
)

// Frame types.
const (
	tHello   byte = 1 // handshake: see hello.go
	tRequest byte = 2 // dialer -> acceptor: a Call
	tReply   byte = 3 // acceptor -> dialer: the handler's answer
	tPing    byte = 4 // dialer -> acceptor: heartbeat
	tPong    byte = 5 // acceptor -> dialer: heartbeat answer, same ID
	tBusy    byte = 6 // acceptor -> dialer: refused, handler not run
	tFail    byte = 7 // acceptor -> dialer: handler ran but no reply (payload: reason)
	tMax     byte = 7
)

const flagMore byte = 1

// maxPartials bounds messages being reassembled at once on one link.
const maxPartials = 1024

// errMalformed marks a frame that breaks the format; the link is closed.
var errMalformed = errors.New("malformed frame")

// message is one reassembled message.
type message struct {
	typ, kind byte
	id        uint64
	payload   []byte
	more      bool // bytes of a further frame had already arrived with it
}

// frameReader reads frames and reassembles chunked messages. Every length is
// checked against max before anything is allocated for it.
type frameReader struct {
	r        *bufio.Reader // tells, by what it holds, whether more frames came in the same read
	max      int
	hdr      [headerSize]byte
	partials map[uint64]*message
	// beforeFrame, if set, runs before each frame is read (read deadlines).
	beforeFrame func()
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, readBuffer), max: max}
}

// next returns the next complete message.
func (fr *frameReader) next() (message, error) {
	for {
		if fr.beforeFrame != nil {
			fr.beforeFrame()
		}
		if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
			return message{}, err
		}
		n := binary.BigEndian.Uint32(fr.hdr[0:4])
		typ, flags, kind := fr.hdr[4], fr.hdr[5], fr.hdr[6]
		id := binary.BigEndian.Uint64(fr.hdr[7:15])
		if typ == 0 || typ > tMax {
			return message{}, fmt.Errorf("%w: unknown type %d", errMalformed, typ)
		}
		if flags&^flagMore != 0 {
			return message{}, fmt.Errorf("%w: unknown flags %#x", errMalformed, flags)
		}
		// Senders chunk at chunkSize, so a longer frame is malformed: a
		// header can never make us allocate more than one chunk ahead of
		// the bytes that actually arrive.
		if uint64(n) > uint64(min(fr.max, chunkSize)) {
			return message{}, fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", errMalformed, n, min(fr.max, chunkSize))
		}
		p := fr.partials[id]
		if p != nil && (p.typ != typ || p.kind != kind) {
			return message{}, fmt.Errorf("%w: chunk of message %d changes type or kind", errMalformed, id)
		}
		if p == nil && flags&flagMore == 0 {
			// The common case: a whole message in one frame.
			buf := make([]byte, n)
			if _, err := io.ReadFull(fr.r, buf); err != nil {
				return message{}, unexpected(err)
			}
			return message{typ: typ, kind: kind, id: id, payload: buf, more: fr.r.Buffered() > 0}, nil
		}
		if p == nil {
			if len(fr.partials) >= maxPartials {
				return message{}, fmt.Errorf("%w: more than %d chunked messages at once", errMalformed, maxPartials)
			}
			if fr.partials == nil {
				fr.partials = make(map[uint64]*message)
			}
			p = &message{typ: typ, kind: kind, id: id}
			fr.partials[id] = p
		}
		if uint64(len(p.payload))+uint64(n) > uint64(fr.max) {
			return message{}, fmt.Errorf("%w: message %d exceeds the limit of %d bytes", errMalformed, id, fr.max)
		}
		// Grow by what has arrived, never by what a header promises.
		off := len(p.payload)
		p.payload = append(p.payload, make([]byte, n)...)
		if _, err := io.ReadFull(fr.r, p.payload[off:]); err != nil {
			return message{}, unexpected(err)
		}
		if flags&flagMore == 0 {
			delete(fr.partials, id)
			p.more = fr.r.Buffered() > 0
			return *p, nil
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendHeader appends one frame header.
func appendHeader(b []byte, n int, typ, flags, kind byte, id uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, typ, flags, kind)
	return binary.BigEndian.AppendUint64(b, id)
}

// writeChunk writes the chunk of m starting at m.off (at most chunkSize
// bytes) and advances m.off. It reports whether chunks remain.
func writeChunk(w *bufio.Writer, m *outMsg) (more bool, err error) {
	rest := m.payload[m.off:]
	n := min(len(rest), chunkSize)
	var flags byte
	if n < len(rest) {
		flags = flagMore
	}
	// Built in the buffer's free space: a local array would escape
	// through Write and cost an allocation per frame.
	if _, err := w.Write(appendHeader(w.AvailableBuffer(), n, m.typ, flags, m.kind, m.id)); err != nil {
		return false, err
	}
	if _, err := w.Write(rest[:n]); err != nil {
		return false, err
	}
	m.off += n
	return flags != 0, nil
}

// writeMessage writes a whole message at once (the handshake, before the
// writer goroutine exists).
func writeMessage(w *bufio.Writer, typ, kind byte, id uint64, payload []byte) error {
	m := &outMsg{typ: typ, kind: kind, id: id, payload: payload}
	for {
		more, err := writeChunk(w, m)
		if err != nil {
			return err
		}
		if !more {
			return w.Flush()
		}
	}
}
