package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/locking"
)

// Request shapes of protocol.md §7.
const (
	U1  = "%2fLM%2fW3SVC%2f1%2fROOT%2fShop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN%2fXWE%2f4khrD9U%3d)%2fkf51kjsndazux1l0vjlec5jw"
	K1  = "/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/kf51kjsndazux1l0vjlec5jw"
	U2  = "%2fLM%2fW3SVC%2f1%2fROOT%2fShop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN%2fXWE%2f4khrD9U%3d)%2fzzzzzzzzzzzzzzzzzzzzzzzz"
	K2  = "/LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/zzzzzzzzzzzzzzzzzzzzzzzz"
	H   = "Host: 127.0.0.1:42424\r\n"
	B7  = "\x14\x00\x00\x00\x00\x00\xff"
	B26 = "\x14\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x03key\x00\x00\x00\x00\x00\x00\x00\x00\xff"
)

// snap is a comparable copy of a parsed Request (its slices alias buffers).
type snap struct {
	Method                          Method
	Target, Key                     string
	Exclusive                       Exclusive
	Timeout, LockCookie, ExtraFlags locking.Num
	ContentLength                   int64
	Body                            string
	HasBody                         bool
	Close                           bool
	Invalid                         string
	N                               int
}

func snapOf(r *Request, n int) snap {
	return snap{r.Method, string(r.Target), string(r.Key), r.Exclusive, r.Timeout, r.LockCookie,
		r.ExtraFlags, r.ContentLength, string(r.Body), r.Body != nil, r.Close, r.Invalid, n}
}

// outcome is everything parsing a byte stream produced: the requests in
// order, then how it stopped.
type outcome struct {
	Reqs []snap
	Err  string // "" = stopped on ErrIncomplete with nothing left over
	Left int    // bytes left unconsumed at the end
}

func errString(err error) string {
	var pe *ProtocolError
	switch {
	case err == nil, errors.Is(err, ErrIncomplete):
		return ""
	case errors.As(err, &pe):
		return fmt.Sprintf("protocol(400=%v): %s", pe.Reply400, pe.Reason)
	}
	return "other: " + err.Error()
}

// feed runs a Parser over stream delivered in the given chunks, the way a
// connection does: append, parse until incomplete, drop consumed bytes.
func feed(t testing.TB, p *Parser, chunks ...[]byte) outcome {
	t.Helper()
	var out outcome
	var buf []byte
	var req Request
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
			n, err := p.Parse(buf, &req)
			if err != nil {
				if !errors.Is(err, ErrIncomplete) {
					out.Err = errString(err)
					out.Left = len(buf)
					return out
				}
				if n != 0 {
					t.Fatalf("ErrIncomplete with n=%d", n)
				}
				break
			}
			if n <= 0 || n > len(buf) {
				t.Fatalf("n=%d with len(buf)=%d", n, len(buf))
			}
			out.Reqs = append(out.Reqs, snapOf(&req, n))
			buf = append(buf[:0], buf[n:]...)
		}
	}
	out.Left = len(buf)
	return out
}

func parseOne(t *testing.T, in string) (snap, error) {
	t.Helper()
	var req Request
	p := NewParser(DefaultLimits())
	n, err := p.Parse([]byte(in), &req)
	if err != nil {
		return snap{}, err
	}
	return snapOf(&req, n), nil
}

func num(v int32) locking.Num { return locking.Num{Value: v, Present: true, Valid: true} }

var badNum = locking.Num{Present: true}

func TestParseTable(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want snap   // N == 0 means len(in)
		err  string // errString of the expected error; "incomplete" for ErrIncomplete
	}{
		{name: "case1 get", in: "GET " + U1 + " HTTP/1.1\r\n" + H + "\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, ContentLength: -1}},
		{name: "case2 acquire", in: "GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: acquire\r\n\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, Exclusive: ExclusiveAcquire, ContentLength: -1}},
		{name: "case3 put", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: 0\r\nContent-Length: 7\r\n\r\n" + B7,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(20), LockCookie: num(0), ContentLength: 7, Body: B7, HasBody: true}},
		{name: "case8 put 26", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: 2\r\nContent-Length: 26\r\n\r\n" + B26,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(20), LockCookie: num(2), ContentLength: 26, Body: B26, HasBody: true}},
		{name: "case11 release", in: "GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: release\r\nLockCookie: 2\r\n\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, Exclusive: ExclusiveRelease, LockCookie: num(2), ContentLength: -1}},
		{name: "case15 release without cookie", in: "GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: release\r\n\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, Exclusive: ExclusiveRelease, ContentLength: -1}},
		{name: "case18 delete with cookie", in: "DELETE " + U1 + " HTTP/1.1\r\n" + H + "LockCookie: 2\r\n\r\n",
			want: snap{Method: MethodDelete, Target: U1, Key: K1, LockCookie: num(2), ContentLength: -1}},
		{name: "case22 head", in: "HEAD " + U1 + " HTTP/1.1\r\n" + H + "\r\n",
			want: snap{Method: MethodHead, Target: U1, Key: K1, ContentLength: -1}},
		{name: "case25 extraflags", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nExtraFlags: 1\r\nLockCookie: 0\r\nContent-Length: 7\r\n\r\n" + B7,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(20), ExtraFlags: num(1), LockCookie: num(0), ContentLength: 7, Body: B7, HasBody: true}},
		{name: "case33 timeout out of range is locking's business", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 525601\r\nContent-Length: 7\r\n\r\n" + B7,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(525601), ContentLength: 7, Body: B7, HasBody: true}},
		{name: "case34 timeout abc", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: abc\r\nContent-Length: 7\r\n\r\n" + B7,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: badNum, ContentLength: 7, Body: B7, HasBody: true}},
		{name: "case35 timeout negative", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: -5\r\nContent-Length: 7\r\n\r\n" + B7,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: badNum, ContentLength: 7, Body: B7, HasBody: true}},
		{name: "case36 cookie abc", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: abc\r\nContent-Length: 7\r\n\r\n" + B7,
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(20), LockCookie: badNum, ContentLength: 7, Body: B7, HasBody: true}},
		{name: "case38 cookie -1", in: "DELETE " + U1 + " HTTP/1.1\r\n" + H + "LockCookie: -1\r\n\r\n",
			want: snap{Method: MethodDelete, Target: U1, Key: K1, LockCookie: badNum, ContentLength: -1}},
		{name: "case46 POST is 400 then close", in: "POST " + U1 + " HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n",
			err: "protocol(400=true): unknown method"},
		{name: "case46 POST decided on the request line", in: "POST " + U1 + " HTTP/1.1\r\n",
			err: "protocol(400=true): unknown method"},
		{name: "lower-case method", in: "get " + U1 + " HTTP/1.1\r\n\r\n", err: "protocol(400=true): unknown method"},
		{name: "case47 garbage", in: "garbage\r\n\r\n", err: "protocol(400=false): malformed request line"},
		{name: "empty line first", in: "\r\nGET x HTTP/1.1\r\n\r\n", err: "protocol(400=false): malformed request line"},
		{name: "missing version", in: "GET " + U1 + "\r\n\r\n", err: "protocol(400=false): malformed request line"},
		{name: "bad version", in: "GET " + U1 + " HTTP/2.0\r\n\r\n", err: "protocol(400=false): unsupported HTTP version"},
		{name: "space in target", in: "GET a b HTTP/1.1\r\n\r\n", err: "protocol(400=false): malformed request line"},
		{name: "leading space", in: " GET a HTTP/1.1\r\n\r\n", err: "protocol(400=false): malformed request line"},
		{name: "http 1.0", in: "GET a HTTP/1.0\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: -1}},
		{name: "case48 no host", in: "GET " + U1 + " HTTP/1.1\r\n\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, ContentLength: -1}},
		{name: "case49 put then one extra byte", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Content-Length: 7\r\n\r\n" + B7 + "G",
			want: snap{Method: MethodPut, Target: U1, Key: K1, ContentLength: 7, Body: B7, HasBody: true,
				N: len("PUT " + U1 + " HTTP/1.1\r\n" + H + "Content-Length: 7\r\n\r\n" + B7)}},
		{name: "case50 body over the limit, before the body", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nContent-Length: 20971521\r\n",
			err: "protocol(400=true): Content-Length 20971521 exceeds MaxBodyBytes (20971520)"},
		{name: "body at the limit is waited for", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Content-Length: 20971520\r\n\r\n",
			err: "incomplete"},
		{name: "case51 ACQUIRE", in: "GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: ACQUIRE\r\n\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, Exclusive: ExclusiveAcquire, ContentLength: -1}},
		{name: "exclusive Release mixed case and spaces", in: "GET a HTTP/1.1\r\nexclusive:\t Release \r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", Exclusive: ExclusiveRelease, ContentLength: -1}},
		{name: "exclusive unknown is plain get", in: "GET a HTTP/1.1\r\nExclusive: transfer\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: -1}},
		{name: "case52 Lock-Cookie", in: "GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: release\r\nLock-Cookie: 2\r\n\r\n",
			want: snap{Method: MethodGet, Target: U1, Key: K1, Exclusive: ExclusiveRelease, LockCookie: num(2), ContentLength: -1}},
		{name: "LockCookie wins after", in: "GET a HTTP/1.1\r\nLock-Cookie: 2\r\nLockCookie: 3\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", LockCookie: num(3), ContentLength: -1}},
		{name: "LockCookie wins before", in: "GET a HTTP/1.1\r\nLOCKCOOKIE: 3\r\nlock-cookie: 2\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", LockCookie: num(3), ContentLength: -1}},
		{name: "duplicate LockCookie is ambiguous", in: "GET a HTTP/1.1\r\nLockCookie: 3\r\nLockCookie: 3\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", LockCookie: badNum, ContentLength: -1}},
		{name: "duplicate Timeout is ambiguous", in: "GET a HTTP/1.1\r\nTimeout: 3\r\ntimeout: 4\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", Timeout: badNum, ContentLength: -1}},
		{name: "case53 upper-case hex is the same key", in: "GET " + strings.ReplaceAll(U1, "%2f", "%2F") + " HTTP/1.1\r\n" + H + "\r\n",
			want: snap{Method: MethodGet, Target: strings.ReplaceAll(U1, "%2f", "%2F"), Key: K1, ContentLength: -1}},
		{name: "case54 empty body", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nContent-Length: 0\r\n\r\n",
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(20), ContentLength: 0, Body: "", HasBody: true}},
		{name: "empty target", in: "GET  HTTP/1.1\r\n" + H + "\r\n",
			want: snap{Method: MethodGet, ContentLength: -1, Invalid: "empty target"}},
		{name: "PUT without Content-Length", in: "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\n\r\n",
			want: snap{Method: MethodPut, Target: U1, Key: K1, Timeout: num(20), ContentLength: -1, Invalid: "PUT without Content-Length"}},
		{name: "GET with a body reads and ignores it", in: "GET a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: 5}},
		{name: "DELETE with a body waits for it", in: "DELETE a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", err: "incomplete"},
		{name: "double slash drops one", in: "GET //w3svc/x HTTP/1.1\r\n\r\n",
			want: snap{Method: MethodGet, Target: "//w3svc/x", Key: "/w3svc/x", ContentLength: -1}},
		{name: "encoded double slash is kept", in: "GET %2f%2fa HTTP/1.1\r\n\r\n",
			want: snap{Method: MethodGet, Target: "%2f%2fa", Key: "//a", ContentLength: -1}},
		{name: "spec example target", in: "GET /w3svc/root/fxstatebvt(NDbkwGi0191wFdDv0yOUOobtHns%3d)%2f15hgq HTTP/1.1\r\n\r\n",
			want: snap{Method: MethodGet, Target: "/w3svc/root/fxstatebvt(NDbkwGi0191wFdDv0yOUOobtHns%3d)%2f15hgq",
				Key: "/w3svc/root/fxstatebvt(NDbkwGi0191wFdDv0yOUOobtHns=)/15hgq", ContentLength: -1}},
		{name: "plus and invalid escapes", in: "GET a+b%zz%4%41%u00e9%uD83D%uDE00%u12 HTTP/1.1\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a+b%zz%4%41%u00e9%uD83D%uDE00%u12", Key: "a b%zz%4A\u00e9\U0001F600%u12", ContentLength: -1}},
		{name: "trailing percent", in: "GET a%4 HTTP/1.1\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a%4", Key: "a%4", ContentLength: -1}},
		{name: "header without colon", in: "GET a HTTP/1.1\r\nHost 1\r\n\r\n", err: "protocol(400=true): malformed header line"},
		{name: "colon at column 0", in: "GET a HTTP/1.1\r\n: x\r\n\r\n", err: "protocol(400=true): malformed header line"},
		{name: "blank name", in: "GET a HTTP/1.1\r\n  : x\r\n\r\n", err: "protocol(400=true): malformed header line"},
		{name: "chunked", in: "PUT a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", err: "protocol(400=true): Transfer-Encoding not supported"},
		{name: "identity TE is fine", in: "GET a HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: -1}},
		{name: "connection close", in: "GET a HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: -1, Close: true}},
		{name: "connection keep-alive", in: "GET a HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: -1}},
		{name: "num bounds", in: "GET a HTTP/1.1\r\nTimeout: 2147483647\r\nLockCookie: 2147483648\r\nExtraFlags:  007 \r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", Timeout: num(2147483647), LockCookie: badNum, ExtraFlags: num(7), ContentLength: -1}},
		{name: "num empty and signed", in: "GET a HTTP/1.1\r\nTimeout:\r\nLockCookie: +1\r\nExtraFlags: 99999999999\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", Timeout: badNum, LockCookie: badNum, ExtraFlags: badNum, ContentLength: -1}},
		{name: "content-length invalid", in: "PUT a HTTP/1.1\r\nContent-Length: x\r\n\r\n", err: "protocol(400=true): invalid Content-Length"},
		{name: "content-length negative", in: "PUT a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", err: "protocol(400=true): invalid Content-Length"},
		{name: "content-length empty", in: "PUT a HTTP/1.1\r\nContent-Length: \r\n\r\n", err: "protocol(400=true): invalid Content-Length"},
		{name: "content-length conflicting", in: "PUT a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", err: "protocol(400=true): invalid Content-Length"},
		{name: "content-length repeated equal", in: "PUT a HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx",
			want: snap{Method: MethodPut, Target: "a", Key: "a", ContentLength: 1, Body: "x", HasBody: true}},
		{name: "bare LF", in: "PUT a HTTP/1.1\nTimeout: 5\nContent-Length: 2\n\nhi",
			want: snap{Method: MethodPut, Target: "a", Key: "a", Timeout: num(5), ContentLength: 2, Body: "hi", HasBody: true}},
		{name: "unknown headers ignored", in: "GET a HTTP/1.1\r\nX-Foo: bar\r\nContent-Type: application/x-encrypted\r\n\r\n",
			want: snap{Method: MethodGet, Target: "a", Key: "a", ContentLength: -1}},
		{name: "head incomplete", in: "GET a HTTP/1.1\r\nHost: x\r\n", err: "incomplete"},
		{name: "empty input", in: "", err: "incomplete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOne(t, tc.in)
			switch {
			case tc.err == "incomplete":
				if !errors.Is(err, ErrIncomplete) {
					t.Fatalf("got %v, want ErrIncomplete", err)
				}
				return
			case tc.err != "":
				if errString(err) != tc.err {
					t.Fatalf("got error %q, want %q", errString(err), tc.err)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			want := tc.want
			if want.N == 0 {
				want.N = len(tc.in)
			}
			if got != want {
				t.Fatalf("\ngot  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	l := Limits{MaxLineBytes: 32, MaxHeaderLines: 3, MaxBodyBytes: 10}
	parse := func(in string) (snap, error) {
		var req Request
		n, err := NewParser(l).Parse([]byte(in), &req)
		return snapOf(&req, n), err
	}
	line := func(n int) string { return "GET " + strings.Repeat("a", n-len("GET  HTTP/1.1\r\n")) + " HTTP/1.1\r\n" }

	if _, err := parse(line(32) + "\r\n"); err != nil {
		t.Fatalf("a line of exactly MaxLineBytes: %v", err)
	}
	if _, err := parse(line(33) + "\r\n"); errString(err) != "protocol(400=true): line longer than MaxLineBytes (32)" {
		t.Fatalf("a line of MaxLineBytes+1: %v", err)
	}
	// Rejected as soon as MaxLineBytes bytes without LF are present, before the line ends.
	if _, err := parse(line(33)[:32]); errString(err) == "" {
		t.Fatalf("32 bytes without LF: %v", err)
	}
	if _, err := parse(line(33)[:31]); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("31 bytes without LF: %v", err)
	}
	if _, err := parse("GET a HTTP/1.1\r\n" + strings.Repeat("Timeout: 1234567890123\r\n", 1)); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("header line within limit: %v", err)
	}
	if _, err := parse("GET a HTTP/1.1\r\nX-Long: " + strings.Repeat("v", 30)); errString(err) == "" {
		t.Fatalf("long header line: %v", err)
	}
	if _, err := parse("GET a HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n"); err != nil {
		t.Fatalf("MaxHeaderLines headers: %v", err)
	}
	if _, err := parse("GET a HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n"); errString(err) != "protocol(400=true): more than MaxHeaderLines (3) header lines" {
		t.Fatalf("MaxHeaderLines+1 headers: %v", err)
	}
	if _, err := parse("PUT a HTTP/1.1\r\nContent-Length: 11\r\n"); errString(err) != "protocol(400=true): Content-Length 11 exceeds MaxBodyBytes (10)" {
		t.Fatalf("body over limit: %v", err)
	}
	if got, err := parse("PUT a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"); err != nil || got.Body != "0123456789" {
		t.Fatalf("body at limit: %+v %v", got, err)
	}
	// The zero Limits value means the defaults.
	var p Parser
	var req Request
	if _, err := p.Parse([]byte(line(5000)+"\r\n"), &req); err != nil {
		t.Fatalf("zero Parser rejects a 5000-byte line: %v", err)
	}
}

func TestNeed(t *testing.T) {
	p := NewParser(DefaultLimits())
	var req Request
	head := "PUT a HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"
	buf := []byte(head[:10])
	if _, err := p.Parse(buf, &req); !errors.Is(err, ErrIncomplete) || p.Need() != 0 {
		t.Fatalf("partial head: err=%v need=%d", err, p.Need())
	}
	buf = append(buf, head[10:]...)
	buf = append(buf, "xyz"...)
	if _, err := p.Parse(buf, &req); !errors.Is(err, ErrIncomplete) || p.Need() != len(head)+1000000 {
		t.Fatalf("complete head: err=%v need=%d", err, p.Need())
	}
	full := make([]byte, 0, p.Need())
	full = append(full, buf...)
	full = append(full, make([]byte, 1000000-3)...)
	n, err := p.Parse(full, &req)
	if err != nil || n != len(full) || len(req.Body) != 1000000 || p.Need() != 0 {
		t.Fatalf("complete body: n=%d err=%v body=%d need=%d", n, err, len(req.Body), p.Need())
	}
}

// A caller that passes a different buffer than the pending one gets a fresh parse.
func TestParseRestartsOnOtherBuffer(t *testing.T) {
	p := NewParser(DefaultLimits())
	var req Request
	if _, err := p.Parse([]byte("PUT aaaa HTTP/1.1\r\nContent-Length: 3\r\n\r\n"), &req); !errors.Is(err, ErrIncomplete) {
		t.Fatal(err)
	}
	in := "GET bbbb HTTP/1.1\r\nTimeout: 5\r\n\r\n"
	n, err := p.Parse([]byte(in), &req)
	if err != nil || n != len(in) || string(req.Key) != "bbbb" || req.Timeout != num(5) || req.Method != MethodGet {
		t.Fatalf("n=%d err=%v req=%+v", n, err, snapOf(&req, n))
	}
}

// Trickling a long line must not rescan it from the start on every call.
func TestParseTrickleIsLinear(t *testing.T) {
	p := NewParser(DefaultLimits())
	var req Request
	in := []byte("GET " + strings.Repeat("x", 8000) + " HTTP/1.1\r\n\r\n")
	for i := 1; i < len(in); i++ {
		if _, err := p.Parse(in[:i], &req); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("at %d: %v", i, err)
		}
		if p.lfFrom != i && p.scan != i {
			t.Fatalf("at %d: search resumes at %d (scan %d)", i, p.lfFrom, p.scan)
		}
	}
	if n, err := p.Parse(in, &req); err != nil || n != len(in) {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

var splitInputs = map[string]string{
	"get":       "GET " + U1 + " HTTP/1.1\r\n" + H + "\r\n",
	"acquire":   "GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: acquire\r\n\r\n",
	"put B26":   "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: 2\r\nContent-Length: 26\r\n\r\n" + B26,
	"put CRLF":  "PUT a HTTP/1.1\r\nContent-Length: 6\r\n\r\n\r\n\r\n\r\n", // a body made of CRLFs
	"pipelined": "GET " + U1 + " HTTP/1.1\r\n" + H + "\r\nGET " + U2 + " HTTP/1.1\r\n" + H + "\r\n",
	"case49":    "PUT " + U1 + " HTTP/1.1\r\n" + H + "Content-Length: 7\r\n\r\n" + B7 + "HEAD " + U1 + " HTTP/1.1\r\n\r\n",
	"bare LF":   "DELETE a HTTP/1.1\nLock-Cookie: 4\n\nHEAD b HTTP/1.1\r\n\r\nGET c",
	"mixed":     "PUT x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET  HTTP/1.1\r\n\r\nPUT y HTTP/1.1\r\n\r\nGET z HTTP/1.1\r\nContent-Length: 2\r\n\r\nzzHEAD q HTTP/1.1\r\n\r\n",
	"garbage":   "GET a HTTP/1.1\r\n\r\ngarbage\r\n\r\n",
	"post":      "HEAD a HTTP/1.1\r\n\r\nPOST " + U1 + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
	"no colon":  "GET a HTTP/1.1\r\nHost x\r\n\r\n",
	"too big":   "GET a HTTP/1.1\r\n\r\nPUT b HTTP/1.1\r\nContent-Length: 20971521\r\n\r\n",
}

// Every split position, and byte by byte, must give what one read gives.
func TestParseSplitEverywhere(t *testing.T) {
	for name, in := range splitInputs {
		t.Run(name, func(t *testing.T) {
			b := []byte(in)
			want := feed(t, NewParser(DefaultLimits()), b)
			if len(want.Reqs) == 0 && want.Err == "" {
				t.Fatalf("input parses to nothing")
			}
			for k := 0; k <= len(b); k++ {
				got := feed(t, NewParser(DefaultLimits()), b[:k], b[k:])
				if !equalOutcome(got, want) {
					t.Fatalf("split at %d:\ngot  %+v\nwant %+v", k, got, want)
				}
			}
			chunks := make([][]byte, len(b))
			for i := range b {
				chunks[i] = b[i : i+1]
			}
			if got := feed(t, NewParser(DefaultLimits()), chunks...); !equalOutcome(got, want) {
				t.Fatalf("byte by byte:\ngot  %+v\nwant %+v", got, want)
			}
		})
	}
}

func equalOutcome(a, b outcome) bool {
	// After an error, how many bytes had arrived depends on the split: an
	// error is reported as soon as it is certain.
	if a.Err != b.Err || (a.Err == "" && a.Left != b.Left) || len(a.Reqs) != len(b.Reqs) {
		return false
	}
	for i := range a.Reqs {
		if a.Reqs[i] != b.Reqs[i] {
			return false
		}
	}
	return true
}

// The pipelined outcomes themselves, not only their agreement.
func TestParsePipelined(t *testing.T) {
	got := feed(t, NewParser(DefaultLimits()), []byte(splitInputs["mixed"]))
	var keys, invalid []string
	for _, r := range got.Reqs {
		keys = append(keys, r.Method.String()+" "+r.Key+" "+r.Body)
		invalid = append(invalid, r.Invalid)
	}
	wantKeys := []string{"PUT x abc", "GET  ", "PUT y ", "GET z ", "HEAD q "}
	if fmt.Sprint(keys) != fmt.Sprint(wantKeys) || got.Err != "" || got.Left != 0 {
		t.Fatalf("got %q err=%q left=%d", keys, got.Err, got.Left)
	}
	if invalid[1] != "empty target" || invalid[2] != "PUT without Content-Length" {
		t.Fatalf("invalid: %q", invalid)
	}
	got = feed(t, NewParser(DefaultLimits()), []byte(splitInputs["garbage"]))
	if len(got.Reqs) != 1 || got.Err != "protocol(400=false): malformed request line" {
		t.Fatalf("garbage after a request: %+v", got)
	}
}

// The body of a pipelined PUT cannot be grown into the next request.
func TestBodyCapacityIsCapped(t *testing.T) {
	in := []byte(splitInputs["case49"])
	var req Request
	n, err := NewParser(DefaultLimits()).Parse(in, &req)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(req.Body, 'X')
	if in[n] != 'H' {
		t.Fatalf("append to Body overwrote the next request")
	}
}

func TestParseAllocs(t *testing.T) {
	ins := [][]byte{
		[]byte(splitInputs["get"]),
		[]byte(splitInputs["put B26"]),
		[]byte("GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: release\r\nLockCookie: 2\r\nConnection: close\r\n\r\n"),
		[]byte("POST a HTTP/1.1\r\n\r\n"),
	}
	p := NewParser(DefaultLimits())
	var req Request
	for _, in := range ins {
		p.Parse(in, &req) // warm the key scratch
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, in := range ins {
			p.Parse(in, &req)
			p.Parse(in[:len(in)/2], &req)
			p.Parse(in, &req)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	in := []byte("GET " + U1 + " HTTP/1.1\r\n" + H + "Exclusive: acquire\r\n\r\n" +
		"PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: 2\r\nContent-Length: 26\r\n\r\n" + B26)
	p := NewParser(DefaultLimits())
	var req Request
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		n, err := p.Parse(in, &req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Parse(in[n:], &req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFuzzSeedsAreInteresting(t *testing.T) {
	// Guard against a refactor turning every seed into an error.
	ok := 0
	for _, s := range fuzzSeeds() {
		var req Request
		if _, err := NewParser(DefaultLimits()).Parse([]byte(s), &req); err == nil {
			ok++
		}
	}
	if ok < len(fuzzSeeds())/2 {
		t.Fatalf("only %d of %d seeds parse", ok, len(fuzzSeeds()))
	}
}

func fuzzSeeds() []string {
	var s []string
	for _, v := range splitInputs {
		s = append(s, v)
	}
	return append(s,
		"GET a+b%zz%4%41%u00e9%uD83D%uDE00 HTTP/1.1\r\nLock-Cookie: 1\r\n\r\n",
		"PUT //x HTTP/1.0\r\nTimeout: 20\r\nExtraFlags: 1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
	)
}

func TestKeyIsNotSplitOnSlash(t *testing.T) {
	got, err := parseOne(t, "GET a/b%2fc HTTP/1.1\r\n\r\n")
	if err != nil || !bytes.Equal([]byte(got.Key), []byte("a/b/c")) {
		t.Fatalf("%+v %v", got, err)
	}
}
