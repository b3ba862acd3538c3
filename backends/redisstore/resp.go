package redisstore

// The RESP2 codec of the hand-written pipeline path (pipeconn.go): reading
// replies without boxing each into an interface, and writing commands.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unsafe"

	"github.com/redis/go-redis/v9"
)

// setCmd stores reply v in cmd as go-redis would have: nil as redis.Nil, an
// error reply as the command's error.
func setCmd(cmd *redis.Cmd, v any) {
	switch v := v.(type) {
	case nil:
		cmd.SetErr(redis.Nil)
	case replyError:
		cmd.SetErr(v)
	default:
		cmd.SetVal(v)
	}
}

// replyError is an error reply from Redis. It is a redis.Error, so that
// callers tell it from a network failure just as with go-redis's own.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

// errProtocol: the byte stream is not RESP2 as expected.
var errProtocol = errors.New("redisstore: malformed reply from redis")

// Bounds on what a reply may claim. The store's replies are at most two
// arrays deep, and a bulk string cannot exceed Redis's proto-max-bulk-len
// (512 MiB by default). A header is never trusted for an allocation: a
// stream that claims more than it delivers costs only what it delivered.
const (
	maxReplyDepth = 4
	maxBulkLen    = 512 << 20
	maxArrayLen   = 1 << 20
	bulkChunk     = 1 << 20 // preallocated at most; longer bulks grow as bytes arrive
	arrayPrealloc = 16
)

// reply is one RESP2 reply, unboxed: the hot path reads two per session
// read and several per batch, and boxing each into an interface would cost
// an allocation apiece.
type reply struct {
	kind byte   // '+', '-', ':', '$', '*', or 0 for nil ($-1, *-1)
	str  string // '+', '-', '$'
	num  int64  // ':'
	arr  []any  // '*', its elements as readReply returns them
}

// value boxes r as readReply returns it.
func (r reply) value() any {
	switch r.kind {
	case '+', '$':
		return r.str
	case '-':
		return replyError(r.str)
	case ':':
		return r.num
	case '*':
		return r.arr
	}
	return nil
}

// replyOf unboxes a reply that go-redis decoded.
func replyOf(v any) reply {
	switch v := v.(type) {
	case string:
		return reply{kind: '$', str: v}
	case int64:
		return reply{kind: ':', num: v}
	case []any:
		return reply{kind: '*', arr: v}
	case error:
		return reply{kind: '-', str: v.Error()}
	case nil:
		return reply{}
	}
	return reply{kind: '?'}
}

// readReply reads one RESP2 reply: string, replyError, int64, nil or []any.
func readReply(br *bufio.Reader) (any, error) {
	r, err := readTyped(br, 0)
	return r.value(), err
}

// readTyped reads one reply at nesting depth.
func readTyped(br *bufio.Reader, depth int) (reply, error) {
	kind, body, err := readLine(br)
	if err != nil {
		return reply{}, err
	}
	return readBody(br, kind, body, depth)
}

// readLine reads a reply's first line: its type byte and the rest before
// CRLF. body is valid until the next read from br.
func readLine(br *bufio.Reader) (kind byte, body []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, nil, errProtocol
	}
	return line[0], line[1 : len(line)-2], nil
}

// readBody reads the rest of a reply whose first line readLine returned.
func readBody(br *bufio.Reader, kind byte, body []byte, depth int) (reply, error) {
	switch kind {
	case '+':
		// The replies a pipeline gets by the hundred, without allocating.
		switch string(body) {
		case "QUEUED":
			return reply{kind: '+', str: "QUEUED"}, nil
		case "OK":
			return reply{kind: '+', str: "OK"}, nil
		}
		return reply{kind: '+', str: string(body)}, nil
	case '-':
		return reply{kind: '-', str: string(body)}, nil
	case ':':
		n, err := parseInt(body)
		return reply{kind: ':', num: n}, err
	case '$':
		n, err := parseInt(body)
		if err != nil || n < 0 {
			return reply{}, err // $-1: nil
		}
		if n > maxBulkLen {
			return reply{}, errProtocol
		}
		str, err := readBulk(br, int(n))
		return reply{kind: '$', str: str}, err
	case '*':
		n, err := parseInt(body)
		if err != nil || n < 0 {
			return reply{}, err // *-1: nil
		}
		if n > maxArrayLen || depth >= maxReplyDepth {
			return reply{}, errProtocol
		}
		vals := make([]any, 0, min(n, arrayPrealloc))
		for range n {
			r, err := readTyped(br, depth+1)
			if err != nil {
				return reply{}, err
			}
			vals = append(vals, r.value())
		}
		return reply{kind: '*', arr: vals}, nil
	}
	return reply{}, errProtocol
}

// readBulk reads n bytes and the CRLF after them. The string's memory is
// its own, never written again: decodeValue may hand it out as a record's
// Data without a copy.
func readBulk(br *bufio.Reader, n int) (string, error) {
	buf := make([]byte, min(n+2, bulkChunk))
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", err
	}
	for len(buf) < n+2 {
		more := min(n+2-len(buf), len(buf)) // at most doubles: memory follows the bytes received
		buf = slices.Grow(buf, more)[:len(buf)+more]
		if _, err := io.ReadFull(br, buf[len(buf)-more:]); err != nil {
			return "", err
		}
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return "", errProtocol
	}
	if n == 0 {
		return "", nil
	}
	// buf is ours alone and never written again.
	return unsafe.String(&buf[0], n), nil
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
	if err != nil {
		return 0, errProtocol
	}
	return n, nil
}

// appendCommand appends a command of string arguments in RESP.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

// appendCommandArgs appends a go-redis command's arguments in RESP; the
// store's scripts use strings, integers and byte slices only.
func appendCommandArgs(b []byte, args []any) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		switch a := a.(type) {
		case string:
			b = appendBulk(b, a)
		case []byte:
			b = appendBulk(b, unsafe.String(unsafe.SliceData(a), len(a)))
		case int:
			b = appendBulk(b, strconv.Itoa(a))
		case int64:
			b = appendBulk(b, strconv.FormatInt(a, 10))
		default:
			b = appendBulk(b, fmt.Sprint(a))
		}
	}
	return b
}

// appendGetex appends GETEX key PXAT at, without allocating: the number is
// formatted on the stack.
func appendGetex(b []byte, key string, at int64) []byte {
	var num [20]byte
	return appendCommand(b, "getex", key, "pxat", string(strconv.AppendInt(num[:0], at, 10)))
}

func appendBulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}
