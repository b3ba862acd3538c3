package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/aspstate/aspstate/locking"
)

// Small limits so that the fuzzer reaches them.
var fuzzLimits = Limits{MaxLineBytes: 200, MaxHeaderLines: 8, MaxBodyBytes: 1 << 10}

// FuzzParse checks that Parse never panics, never claims more bytes than it
// was given, never returns n == 0 without an error, that one split of the
// input gives the same outcome as none, and that a parsed request re-encoded
// by AppendRequest parses back to the same request.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole := feed(t, NewParser(fuzzLimits), data) // feed checks n and the error
		k := int(split) % (len(data) + 1)
		if got := feed(t, NewParser(fuzzLimits), data[:k], data[k:]); !equalOutcome(got, whole) {
			t.Fatalf("split at %d:\ngot  %+v\nwant %+v", k, got, whole)
		}
		for _, r := range whole.Reqs {
			if r.Invalid != "" {
				continue
			}
			cr := ClientRequest{Method: r.Method, Target: r.Target, Exclusive: r.Exclusive}
			if r.Method == MethodPut {
				cr.Body = []byte(r.Body)
			}
			validOnly := func(n locking.Num) locking.Num {
				if !n.Valid {
					return locking.Num{}
				}
				return n
			}
			cr.Timeout, cr.LockCookie, cr.ExtraFlags = validOnly(r.Timeout), validOnly(r.LockCookie), validOnly(r.ExtraFlags)
			enc := AppendRequest(nil, &cr)
			var back Request
			n, err := NewParser(fuzzLimits).Parse(enc, &back)
			if err != nil {
				// Re-encoding may only grow a line past the limit (CRLF for LF).
				var pe *ProtocolError
				if errors.As(err, &pe) && bytes.Contains([]byte(pe.Reason), []byte("MaxLineBytes")) {
					continue
				}
				t.Fatalf("re-encoded %q: %v", enc, err)
			}
			b := snapOf(&back, n)
			if n != len(enc) || b.Method != r.Method || b.Target != r.Target || b.Key != r.Key ||
				b.Exclusive != r.Exclusive || b.Timeout != cr.Timeout || b.LockCookie != cr.LockCookie ||
				b.ExtraFlags != cr.ExtraFlags || b.Body != r.Body || b.Close {
				t.Fatalf("round trip of %q:\ngot  %+v\nwant %+v", enc, b, r)
			}
		}
	})
}

// FuzzParseResponse checks that ParseResponse never panics, reports sane
// lengths, does not depend on bytes after the response, and that what it
// parsed survives AppendResponse and a second parse.
func FuzzParseResponse(f *testing.F) {
	for _, r := range []Response{
		{Status: 200, ActionFlags: true, LockCookie: 2, HasLockCookie: true, Timeout: 20, HasTimeout: true, Body: []byte(B7)},
		{Status: 423, LockCookie: 2, LockDateTicks: 638400000000000000, LockAgeSeconds: 3},
		{Status: 404}, {Status: 400},
	} {
		f.Add(AppendResponse(nil, V, &r))
	}
	f.Add([]byte("200 OK\r\nX-AspNet-Version: 2.0.50727\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 1\r\n\r\nx"))
	f.Add([]byte("HTTP/1.0 423 Locked\nLockAge: -1\nLockDate: -5\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r ClientResponse
		n, err := ParseResponse(data, &r)
		if err != nil {
			if n != 0 {
				t.Fatalf("n=%d with error %v", n, err)
			}
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("n=%d, len=%d", n, len(data))
		}
		var r2 ClientResponse
		if n2, err := ParseResponse(data[:n], &r2); err != nil || n2 != n {
			t.Fatalf("the response alone: n=%d err=%v, want n=%d", n2, err, n)
		}
		switch r.Status {
		case 200, 400, 404, 423:
		default:
			return
		}
		if bytes.ContainsAny(r.Version, "\r\n") {
			return // cannot be written back on one header line
		}
		resp := Response{Status: r.Status, Body: r.Body, LockDateTicks: r.LockDate}
		resp.ActionFlags = r.ActionFlags.Valid && r.ActionFlags.Value == 1
		resp.LockCookie, resp.HasLockCookie = r.LockCookie.Value, r.LockCookie.Valid
		resp.Timeout, resp.HasTimeout = r.Timeout.Value, r.Timeout.Valid
		resp.LockAgeSeconds = int64(r.LockAge.Value)
		enc := AppendResponse(nil, string(r.Version), &resp)
		var back ClientResponse
		if m, err := ParseResponse(enc, &back); err != nil || m != len(enc) {
			t.Fatalf("re-encoded %q: m=%d err=%v", enc, m, err)
		}
		if back.Status != r.Status || !bytes.Equal(back.Version, r.Version) {
			t.Fatalf("round trip: %+v vs %+v", back, r)
		}
		if r.Status == 200 && !bytes.Equal(back.Body, r.Body) {
			t.Fatalf("body changed: %q vs %q", back.Body, r.Body)
		}
	})
}
