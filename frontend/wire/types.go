package wire

import (
	"errors"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// Method is a request verb of the state protocol.
type Method uint8

const (
	MethodGet Method = iota + 1
	MethodPut
	MethodDelete
	MethodHead
)

func (m Method) String() string {
	switch m {
	case MethodGet:
		return "GET"
	case MethodPut:
		return "PUT"
	case MethodDelete:
		return "DELETE"
	case MethodHead:
		return "HEAD"
	}
	return "?"
}

// Exclusive is the value of the Exclusive header (case-insensitive on the wire).
type Exclusive uint8

const (
	ExclusiveNone    Exclusive = iota // absent or an unknown value: a plain Get
	ExclusiveAcquire                  // "acquire"
	ExclusiveRelease                  // "release"
)

// Request is one parsed request. Its byte slices alias the buffer given to
// Parse or the Parser's own scratch space: valid until the next Parse call.
type Request struct {
	Method Method
	// Target is the raw request target as sent.
	Target []byte
	// Key is the URL-decoded target (%xx decoded, '+' -> space, one leading
	// '/' dropped when the target starts with "//"), the session key.
	Key       []byte
	Exclusive Exclusive
	// Numeric headers as received, in the type package locking reads:
	// Valid means a decimal integer in 0..MaxInt32 (surrounding spaces
	// allowed); each header's range rules (Timeout 1..525600, ExtraFlags 0/1)
	// belong to locking. The codec imports locking, not the other way round:
	// locking is the protocol's semantics and imports nothing but backends'
	// record types, so the codec stays free of sockets and fuzzable, while
	// the semantics never learn the wire format.
	Timeout    locking.Num
	LockCookie locking.Num // from LockCookie, or Lock-Cookie when LockCookie is absent
	ExtraFlags locking.Num
	// ContentLength is -1 when the header is absent.
	ContentLength int64
	Body          []byte
	// Close is set by "Connection: close": answer, then close.
	Close bool
	// Invalid, when not empty, says why this well-framed request must be
	// answered 400 (the connection stays usable), e.g. "empty target".
	Invalid string
}

// Response is what the server sends back. The encoder writes the headers in the
// order of the canonical templates of docs/protocol.md §3.4.
type Response struct {
	Status      int // 200, 400, 404 or 423
	ActionFlags bool
	// LockCookie is written on a 200 when HasLockCookie (GetExclusive), and
	// always on a 423.
	LockCookie    int32
	HasLockCookie bool
	// Timeout (minutes) is written on a 200 when HasTimeout (Get, GetExclusive).
	Timeout    int32
	HasTimeout bool
	// LockDateTicks (.NET ticks, server-local time) and LockAgeSeconds: 423 only.
	LockDateTicks  int64
	LockAgeSeconds int64
	Body           []byte
}

// Limits bound what the parser accepts. They are enforced while bytes arrive:
// a request that exceeds one is rejected before it is buffered whole. The
// tags name the gateway's configuration keys (limits.*, cmd/aspstated).
type Limits struct {
	MaxLineBytes   int   `koanf:"max_line_bytes" help:"longest request or header line accepted"`        // one request or header line, CRLF included
	MaxHeaderLines int   `koanf:"max_header_lines" help:"most header lines in one request"`             // header lines in one request
	MaxBodyBytes   int64 `koanf:"max_body_bytes" help:"largest session blob accepted (Content-Length)"` // Content-Length

	// The limits below are not the parser's: package frontend enforces them
	// on connections. They live here so that every limits.* key is in one
	// struct.

	// MaxInflightBytes is the server-wide budget for request bytes buffered
	// beyond each connection's small base buffer (large bodies in flight).
	MaxInflightBytes int64 `koanf:"max_inflight_bytes" help:"server-wide budget for request bytes in flight (large bodies being received); a request that cannot get room within 1s is answered 400 and its connection closed"`
	// HeaderTimeout bounds receiving one request's head, from its first byte.
	HeaderTimeout time.Duration `koanf:"header_timeout" help:"close a connection whose request head is not complete this long after its first byte"`
	// MinBodyRate is the slowest average rate, in bytes per second, a body may
	// arrive at (after HeaderTimeout of grace).
	MinBodyRate int64 `koanf:"min_body_rate" help:"close a connection whose request body arrives slower than this many bytes per second on average (after header_timeout of grace)"`
}

// Defaults of the limits and of the version header.
const (
	DefaultMaxLineBytes   = 8 << 10
	DefaultMaxHeaderLines = 64
	// DefaultMaxBodyBytes is the largest session blob: the stores' own default
	// limit, so that what the front end accepts can be stored.
	DefaultMaxBodyBytes = backends.DefaultMaxValueSize
	// DefaultVersion is the X-AspNet-Version the reference server sends.
	DefaultVersion = "4.0.30319"
)

// DefaultLimits returns the limits used unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{MaxLineBytes: DefaultMaxLineBytes, MaxHeaderLines: DefaultMaxHeaderLines, MaxBodyBytes: DefaultMaxBodyBytes}
}

// ErrIncomplete: the buffer does not yet hold a whole request (or response);
// read more bytes and call again.
var ErrIncomplete = errors.New("wire: incomplete message")

// ProtocolError is input that cannot be framed: the connection must be closed,
// after a 400 response when Reply400 is set.
type ProtocolError struct {
	Reason   string
	Reply400 bool
}

func (e *ProtocolError) Error() string { return "wire: " + e.Reason }
