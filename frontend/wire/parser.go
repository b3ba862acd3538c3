package wire

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/aspstate/aspstate/locking"
)

// Parser reads requests from a connection's buffer. One Parser serves one
// connection; it is not safe for concurrent use. The zero value is usable:
// zero Limits fields mean the DefaultLimits value.
//
// Between calls that return ErrIncomplete the caller must keep the pending
// request's bytes at the start of buf and only append to them: the Parser
// remembers how far it has scanned so that a request trickling in one byte
// at a time costs linear, not quadratic, time. If buf no longer starts with
// the pending request (checked cheaply, not exhaustively), it starts over.
type Parser struct {
	Limits Limits

	// scratch holds the decoded key; reused so steady state does not allocate.
	scratch []byte

	// Resume state of the pending request, all offsets into buf.
	pending  bool
	scan     int // start of the next unprocessed line
	lfFrom   int // where the search for the next '\n' resumes (>= scan)
	lines    int // lines processed, request line included
	headDone bool
	headLen  int
	need     int // headLen + Content-Length, once headDone

	// The request as parsed so far; slices that alias buf are kept as offsets.
	cur           Request
	tOff, tEnd    int
	clSeen        bool
	lcSeen        bool // a "LockCookie" (not "Lock-Cookie") header was seen
	toN, lcN, efN int  // occurrences, to reject duplicated numeric headers

	// Fingerprint of the pending bytes: the first and last few bytes seen.
	fpHead, fpTail [16]byte
	fpHeadN        int
	fpTailN        int
	seen           int // bytes examined so far; fpTail ends here
}

// NewParser returns a Parser enforcing l.
func NewParser(l Limits) *Parser { return &Parser{Limits: l} }

// Need reports, after Parse returned ErrIncomplete, the total number of bytes
// the pending request needs (head plus body) once its head is complete, so the
// caller can grow its buffer once for a large body. Otherwise it returns 0.
func (p *Parser) Need() int {
	if p.pending && p.headDone {
		return p.need
	}
	return 0
}

func (p *Parser) limits() Limits {
	l, d := p.Limits, DefaultLimits()
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = d.MaxLineBytes
	}
	if l.MaxHeaderLines <= 0 {
		l.MaxHeaderLines = d.MaxHeaderLines
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	return l
}

// Parse parses one request at the start of buf into *req, which it resets
// first. It returns the bytes consumed (head and body); bytes after them
// belong to the next request. It returns 0 and ErrIncomplete when buf does
// not yet hold a whole request, and a *ProtocolError when the input cannot be
// framed (close the connection, after a 400 if Reply400). A well-framed
// request that must be answered 400 comes back with req.Invalid set.
//
// Only a PUT gets a Body (empty, not nil, for Content-Length: 0). A body sent
// with another method is consumed, to stay in frame, and dropped.
//
// req's byte slices alias buf and the Parser: see the package documentation.
func (p *Parser) Parse(buf []byte, req *Request) (n int, err error) {
	if !p.resumable(buf) {
		p.reset()
	}
	p.pending = true
	if !p.headDone {
		if err := p.scanHead(buf); err != nil {
			if err == ErrIncomplete {
				p.fingerprint(buf)
			} else {
				p.reset()
			}
			return 0, err
		}
	}
	if len(buf) < p.need {
		p.fingerprint(buf)
		return 0, ErrIncomplete
	}
	*req = p.cur
	req.Target = buf[p.tOff:p.tEnd:p.tEnd]
	req.Key = p.scratch
	if req.Method == MethodPut && req.ContentLength >= 0 {
		// Capped so that an append by the caller cannot clobber the next request.
		req.Body = buf[p.headLen:p.need:p.need]
	}
	n = p.need
	p.reset()
	return n, nil
}

func (p *Parser) reset() {
	scratch := p.scratch[:0]
	l := p.Limits
	*p = Parser{Limits: l, scratch: scratch}
	p.cur.ContentLength = -1
}

// resumable reports whether buf plausibly still starts with the pending
// request: long enough, and the same first and last examined bytes.
func (p *Parser) resumable(buf []byte) bool {
	if !p.pending || len(buf) < p.seen {
		return false
	}
	return bytes.Equal(buf[:p.fpHeadN], p.fpHead[:p.fpHeadN]) &&
		bytes.Equal(buf[p.seen-p.fpTailN:p.seen], p.fpTail[:p.fpTailN])
}

func (p *Parser) fingerprint(buf []byte) {
	p.seen = len(buf)
	if p.headDone {
		p.seen = p.headLen // body bytes are never examined
	}
	p.fpHeadN = copy(p.fpHead[:], buf[:p.seen])
	lo := max(0, p.seen-len(p.fpTail))
	p.fpTailN = copy(p.fpTail[:], buf[lo:p.seen])
}

// scanHead processes complete lines from p.scan on, enforcing the line and
// header limits as bytes arrive rather than after buffering a whole head.
func (p *Parser) scanHead(buf []byte) error {
	lim := p.limits()
	for !p.headDone {
		start := p.scan
		end := min(len(buf), start+lim.MaxLineBytes)
		i := -1
		if p.lfFrom < end {
			i = bytes.IndexByte(buf[p.lfFrom:end], '\n')
		}
		if i < 0 {
			if len(buf)-start >= lim.MaxLineBytes {
				return &ProtocolError{Reason: "line longer than MaxLineBytes (" +
					strconv.Itoa(lim.MaxLineBytes) + ")", Reply400: true}
			}
			p.lfFrom = max(p.lfFrom, end)
			return ErrIncomplete
		}
		lf := p.lfFrom + i
		p.scan, p.lfFrom = lf+1, lf+1
		line := buf[start:lf]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1] // CRLF, or a bare LF tolerated
		}
		if err := p.line(line, start, lim); err != nil {
			return err
		}
	}
	return nil
}

func (p *Parser) line(line []byte, off int, lim Limits) error {
	p.lines++
	if p.lines == 1 {
		return p.requestLine(line, off)
	}
	if len(line) == 0 {
		p.endHead()
		return nil
	}
	if p.lines-1 > lim.MaxHeaderLines {
		return &ProtocolError{Reason: "more than MaxHeaderLines (" +
			strconv.Itoa(lim.MaxHeaderLines) + ") header lines", Reply400: true}
	}
	return p.header(line, lim)
}

var (
	errGarbage      = &ProtocolError{Reason: "malformed request line"}
	errBadVersion   = &ProtocolError{Reason: "unsupported HTTP version"}
	errMethod       = &ProtocolError{Reason: "unknown method", Reply400: true}
	errHeader       = &ProtocolError{Reason: "malformed header line", Reply400: true}
	errLength       = &ProtocolError{Reason: "invalid Content-Length", Reply400: true}
	errTransferCode = &ProtocolError{Reason: "Transfer-Encoding not supported", Reply400: true}
)

// requestLine parses "METHOD SP target SP HTTP/1.x". A target cannot contain
// a space: real clients percent-encode it, and anything else is not framed.
func (p *Parser) requestLine(line []byte, off int) error {
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 == sp1 {
		return errGarbage
	}
	method, target, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if bytes.IndexByte(target, ' ') >= 0 || !isToken(method) {
		return errGarbage
	}
	if string(version) != "HTTP/1.1" && string(version) != "HTTP/1.0" {
		return errBadVersion
	}
	switch string(method) {
	case "GET":
		p.cur.Method = MethodGet
	case "PUT":
		p.cur.Method = MethodPut
	case "DELETE":
		p.cur.Method = MethodDelete
	case "HEAD":
		p.cur.Method = MethodHead
	default:
		// Answered 400 (as the reference's DoUnknown does), then closed: a body
		// may follow that we do not know how to skip.
		return errMethod
	}
	p.tOff, p.tEnd = off+sp1+1, off+sp2
	if len(target) == 0 {
		p.cur.Invalid = "empty target"
	}
	if len(target) >= 2 && target[0] == '/' && target[1] == '/' {
		target = target[1:] // as the reference's StateWorkerRequest does
	}
	p.scratch = appendURLDecoded(p.scratch[:0], target)
	return nil
}

// isToken reports whether b is a non-empty HTTP token (RFC 9110 tchar).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func (p *Parser) header(line []byte, lim Limits) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return errHeader
	}
	name, value := trimSpace(line[:colon]), trimSpace(line[colon+1:])
	if len(name) == 0 {
		return errHeader
	}
	r := &p.cur
	switch len(name) {
	case 7:
		if eqFold(name, "timeout") {
			p.toN++
			r.Timeout = dupNum(parseNum(value), p.toN)
		}
	case 9:
		if eqFold(name, "exclusive") {
			// Last one wins; an unknown value is a plain Get, as in p2p.
			switch {
			case eqFold(value, "acquire"):
				r.Exclusive = ExclusiveAcquire
			case eqFold(value, "release"):
				r.Exclusive = ExclusiveRelease
			default:
				r.Exclusive = ExclusiveNone
			}
		}
	case 10:
		switch {
		case eqFold(name, "lockcookie"):
			p.lcN++
			if !p.lcSeen {
				p.lcSeen, p.lcN = true, 1 // LockCookie beats any Lock-Cookie
			}
			r.LockCookie = dupNum(parseNum(value), p.lcN)
		case eqFold(name, "extraflags"):
			p.efN++
			r.ExtraFlags = dupNum(parseNum(value), p.efN)
		case eqFold(name, "connection"):
			if hasCloseToken(value) {
				r.Close = true
			}
		}
	case 11:
		if eqFold(name, "lock-cookie") && !p.lcSeen {
			p.lcN++
			r.LockCookie = dupNum(parseNum(value), p.lcN)
		}
	case 14:
		if eqFold(name, "content-length") {
			n, ok := parseLength(value, 1<<62)
			if !ok || (p.clSeen && n != r.ContentLength) {
				return errLength
			}
			if n > lim.MaxBodyBytes {
				return &ProtocolError{Reason: "Content-Length " + strconv.FormatInt(n, 10) +
					" exceeds MaxBodyBytes (" + strconv.FormatInt(lim.MaxBodyBytes, 10) + ")",
					Reply400: true}
			}
			p.clSeen, r.ContentLength = true, n
		}
	case 17:
		// Only identity can be framed; chunked (or anything else) cannot.
		if eqFold(name, "transfer-encoding") && !eqFold(value, "identity") {
			return errTransferCode
		}
	}
	return nil
}

// dupNum makes a repeated numeric header Present but not Valid: two values
// are ambiguous (p2p would comma-join them into an unparsable one).
func dupNum(n locking.Num, count int) locking.Num {
	if count > 1 {
		return locking.Num{Present: true}
	}
	return n
}

// hasCloseToken reports whether a Connection value lists "close".
func hasCloseToken(v []byte) bool {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if eqFold(trimSpace(tok), "close") {
			return true
		}
	}
	return false
}

func (p *Parser) endHead() {
	p.headDone, p.headLen = true, p.scan
	p.need = p.headLen
	if p.cur.ContentLength > 0 {
		p.need += int(p.cur.ContentLength)
	}
	if p.cur.Method == MethodPut && p.cur.ContentLength < 0 && p.cur.Invalid == "" {
		// We cannot know whether a body follows; treat the request as bodyless.
		p.cur.Invalid = "PUT without Content-Length"
	}
}
