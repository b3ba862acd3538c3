package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strconv"

	"github.com/aspstate/aspstate/locking"
)

// ClientRequest is a request as a client (the operator tool, tests) sends it.
type ClientRequest struct {
	Method Method
	// Target is the raw request target, already encoded (see ClientTarget).
	Target    string
	Host      string // written when not empty
	Exclusive Exclusive
	// Numeric headers are written when Present, with their Value.
	Timeout, LockCookie, ExtraFlags locking.Num
	// Content-Length is written for a PUT always, for the others only when
	// len(Body) > 0.
	Body []byte
}

// AppendRequest appends r to dst in the shape a .NET client sends, e.g.
// "GET <target> HTTP/1.1\r\nHost: h\r\nExclusive: acquire\r\n\r\n".
func AppendRequest(dst []byte, r *ClientRequest) []byte {
	dst = append(dst, r.Method.String()...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	if r.Host != "" {
		dst = append(dst, "Host: "...)
		dst = append(dst, r.Host...)
		dst = append(dst, "\r\n"...)
	}
	switch r.Exclusive {
	case ExclusiveAcquire:
		dst = append(dst, "Exclusive: acquire\r\n"...)
	case ExclusiveRelease:
		dst = append(dst, "Exclusive: release\r\n"...)
	}
	dst = appendNumHeader(dst, "Timeout: ", r.Timeout)
	dst = appendNumHeader(dst, "LockCookie: ", r.LockCookie)
	dst = appendNumHeader(dst, "ExtraFlags: ", r.ExtraFlags)
	if r.Method == MethodPut || len(r.Body) > 0 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, r.Body...)
}

func appendNumHeader(dst []byte, name string, n locking.Num) []byte {
	if !n.Present {
		return dst
	}
	dst = append(dst, name...)
	dst = strconv.AppendInt(dst, int64(n.Value), 10)
	return append(dst, "\r\n"...)
}

// ClientResponse is a parsed response. Its byte slices alias the buffer given
// to ParseResponse.
type ClientResponse struct {
	Status  int
	Reason  []byte
	Version []byte // the X-AspNet-Version value
	// LockAge is Present but not Valid when negative (the client then falls
	// back to LockDate).
	ActionFlags, LockCookie, Timeout, LockAge locking.Num
	LockDate                                  int64 // .NET ticks, server-local
	HasLockDate                               bool
	Body                                      []byte
	// ContentLength is -1 when the header is absent (the body is then empty).
	ContentLength int64
}

// Bounds for ParseResponse, so that garbage fails instead of waiting forever.
const (
	maxResponseLine    = 8 << 10
	maxResponseHeaders = 64
	maxResponseBody    = 1 << 30
)

var errResponse = &ProtocolError{Reason: "malformed response"}

// ParseResponse parses one response at the start of buf into *r (reset
// first) and returns the bytes consumed. The status line may carry the
// "HTTP/1.x " prefix or not ("200 OK", as p2pStateServer sends); headers may
// come in any order, names in any case. It returns ErrIncomplete when more
// bytes are needed and a *ProtocolError for garbage. It rescans from the
// start on every call, which is fine for a client reading one response.
func ParseResponse(buf []byte, r *ClientResponse) (n int, err error) {
	*r = ClientResponse{ContentLength: -1}
	pos, lines := 0, 0
	for {
		i := bytes.IndexByte(buf[pos:min(len(buf), pos+maxResponseLine)], '\n')
		if i < 0 {
			if len(buf)-pos >= maxResponseLine {
				return 0, errResponse
			}
			return 0, ErrIncomplete
		}
		line := buf[pos : pos+i]
		pos += i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		lines++
		if lines == 1 {
			if !parseStatusLine(line, r) {
				return 0, errResponse
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		if lines-1 > maxResponseHeaders || !parseResponseHeader(line, r) {
			return 0, errResponse
		}
	}
	end := pos
	if r.ContentLength > 0 {
		end += int(r.ContentLength)
	}
	if len(buf) < end {
		return 0, ErrIncomplete
	}
	r.Body = buf[pos:end:end]
	return end, nil
}

// parseStatusLine accepts "[HTTP/1.x SP] 3DIGIT [SP reason]".
func parseStatusLine(line []byte, r *ClientResponse) bool {
	if bytes.HasPrefix(line, []byte("HTTP/1.")) {
		if len(line) < 9 || line[7] < '0' || line[7] > '9' || line[8] != ' ' {
			return false
		}
		line = line[9:]
	}
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ') {
		return false
	}
	code := 0
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	r.Status = code
	if len(line) > 3 {
		r.Reason = line[4:]
	}
	return true
}

func parseResponseHeader(line []byte, r *ClientResponse) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name, value := trimSpace(line[:colon]), trimSpace(line[colon+1:])
	switch {
	case eqFold(name, "content-length"):
		n, ok := parseLength(value, maxResponseBody)
		if !ok {
			return false
		}
		r.ContentLength = n
	case eqFold(name, "x-aspnet-version"):
		r.Version = value
	case eqFold(name, "actionflags"):
		r.ActionFlags = parseNum(value)
	case eqFold(name, "lockcookie"):
		r.LockCookie = parseNum(value)
	case eqFold(name, "timeout"):
		r.Timeout = parseNum(value)
	case eqFold(name, "lockage"):
		r.LockAge = parseNum(value)
	case eqFold(name, "lockdate"):
		r.LockDate, r.HasLockDate = parseInt64(value)
	case eqFold(name, "transfer-encoding"):
		return eqFold(value, "identity")
	}
	return true
}

// EncodeTarget is .NET 4.x HttpUtility.UrlEncode: A-Z a-z 0-9 and -_.!*()
// stay, space becomes '+', every other byte of the UTF-8 string is %xx with
// lower-case hex.
func EncodeTarget(key string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(key)+len(key)/2)
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '!', c == '*', c == '(', c == ')':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// ClientTarget builds the request target a .NET 4.x web server sends for a
// session: UrlEncode(appId' + "(" + Base64(SHA256(UTF8(appId))) + ")/" +
// sessionID), where appId' is appId with "/" prepended when it lacks one (the
// hash is of appId as given) [RS OutOfProcStateClientManager.cs:OneTimeInit].
func ClientTarget(appID, sessionID string) string {
	sum := sha256.Sum256([]byte(appID))
	base := appID
	if len(base) == 0 || base[0] != '/' {
		base = "/" + base
	}
	return EncodeTarget(base + "(" + base64.StdEncoding.EncodeToString(sum[:]) + ")/" + sessionID)
}

// TargetKey returns the session key a server derives from a request target:
// the target URL-decoded, exactly as Parse does. Tools use it to compute which
// peered gateway owns a session.
func TargetKey(target string) string {
	t := []byte(target)
	if len(t) >= 2 && t[0] == '/' && t[1] == '/' {
		t = t[1:]
	}
	return string(appendURLDecoded(nil, t))
}
