package wire

import (
	"errors"
	"testing"
	"time"
)

// The worked example of docs/protocol.md §3.2.
func TestClientTargetWorkedExample(t *testing.T) {
	got := ClientTarget("/LM/W3SVC/1/ROOT/Shop", "kf51kjsndazux1l0vjlec5jw")
	if got != U1 {
		t.Fatalf("\ngot  %s\nwant %s", got, U1)
	}
	var req Request
	in := AppendRequest(nil, &ClientRequest{Method: MethodGet, Target: got})
	if _, err := NewParser(DefaultLimits()).Parse(in, &req); err != nil || string(req.Key) != K1 {
		t.Fatalf("key %q err %v", req.Key, err)
	}
}

func TestClientTargetWithoutLeadingSlash(t *testing.T) {
	// The hash is of appId as given; only the target gains the '/'.
	a := ClientTarget("LM/W3SVC/1/ROOT/Shop", "s")
	b := ClientTarget("/LM/W3SVC/1/ROOT/Shop", "s")
	if a == b || a[:len("%2fLM")] != "%2fLM" {
		t.Fatalf("a=%s b=%s", a, b)
	}
}

func TestEncodeTarget(t *testing.T) {
	cases := map[string]string{
		"AZaz09-_.!*()":       "AZaz09-_.!*()",
		"a b":                 "a+b",
		"/+=%&?#~'\"\x00\x7f": "%2f%2b%3d%25%26%3f%23%7e%27%22%00%7f",
		"é":                   "%c3%a9",
		"":                    "",
	}
	for in, want := range cases {
		if got := EncodeTarget(in); got != want {
			t.Errorf("EncodeTarget(%q) = %q, want %q", in, got, want)
		}
		// Decoding gives the key back.
		if got := string(appendURLDecoded(nil, []byte(EncodeTarget(in)))); got != in {
			t.Errorf("decode(encode(%q)) = %q", in, got)
		}
	}
}

func TestAppendRequest(t *testing.T) {
	cases := []struct {
		r    ClientRequest
		want string
	}{
		{ClientRequest{Method: MethodGet, Target: "t", Host: "h:1", Exclusive: ExclusiveAcquire},
			"GET t HTTP/1.1\r\nHost: h:1\r\nExclusive: acquire\r\n\r\n"},
		{ClientRequest{Method: MethodGet, Target: "t", Exclusive: ExclusiveRelease, LockCookie: num(2)},
			"GET t HTTP/1.1\r\nExclusive: release\r\nLockCookie: 2\r\n\r\n"},
		{ClientRequest{Method: MethodPut, Target: "t", Host: "h", Timeout: num(20), LockCookie: num(0), ExtraFlags: num(1), Body: []byte(B7)},
			"PUT t HTTP/1.1\r\nHost: h\r\nTimeout: 20\r\nLockCookie: 0\r\nExtraFlags: 1\r\nContent-Length: 7\r\n\r\n" + B7},
		{ClientRequest{Method: MethodPut, Target: "t"},
			"PUT t HTTP/1.1\r\nContent-Length: 0\r\n\r\n"},
		{ClientRequest{Method: MethodDelete, Target: "t", Body: []byte("x")},
			"DELETE t HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"},
		{ClientRequest{Method: MethodHead, Target: "t"}, "HEAD t HTTP/1.1\r\n\r\n"},
	}
	for _, tc := range cases {
		if got := string(AppendRequest(nil, &tc.r)); got != tc.want {
			t.Errorf("\ngot  %q\nwant %q", got, tc.want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	t.Run("p2p shape without HTTP prefix", func(t *testing.T) {
		in := "200 OK\r\nX-AspNet-Version: 2.0.50727\r\nActionFlags: 1\r\nLockCookie: 2\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 7\r\n\r\n" + B7 + "next"
		var r ClientResponse
		n, err := ParseResponse([]byte(in), &r)
		if err != nil || n != len(in)-4 || r.Status != 200 || string(r.Reason) != "OK" || string(r.Version) != "2.0.50727" ||
			r.ActionFlags != num(1) || r.LockCookie != num(2) || r.Timeout != num(20) || string(r.Body) != B7 || r.ContentLength != 7 {
			t.Fatalf("n=%d err=%v r=%+v", n, err, r)
		}
	})
	t.Run("423 any order any case", func(t *testing.T) {
		in := "HTTP/1.1 423 Locked\r\ncontent-length: 0\r\nLOCKCOOKIE: 3\r\nlockage: -1\r\nLockDate:  638400000000000000 \r\nx-aspnet-version: 4.0.30319\r\n\r\n"
		var r ClientResponse
		n, err := ParseResponse([]byte(in), &r)
		if err != nil || n != len(in) || r.Status != 423 || r.LockCookie != num(3) || r.LockAge != badNum ||
			!r.HasLockDate || r.LockDate != 638400000000000000 || len(r.Body) != 0 {
			t.Fatalf("n=%d err=%v r=%+v", n, err, r)
		}
	})
	t.Run("no Content-Length, bare status", func(t *testing.T) {
		var r ClientResponse
		n, err := ParseResponse([]byte("404\n\n"), &r)
		if err != nil || n != 5 || r.Status != 404 || r.ContentLength != -1 {
			t.Fatalf("n=%d err=%v r=%+v", n, err, r)
		}
	})
	full := string(AppendResponse(nil, V, &Response{Status: 200, HasTimeout: true, Timeout: 20, Body: []byte(B26)}))
	t.Run("every prefix is incomplete", func(t *testing.T) {
		for k := 0; k < len(full); k++ {
			var r ClientResponse
			if n, err := ParseResponse([]byte(full[:k]), &r); !errors.Is(err, ErrIncomplete) || n != 0 {
				t.Fatalf("prefix %d: n=%d err=%v", k, n, err)
			}
		}
	})
	for _, bad := range []string{
		"garbage\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n",
		"200 OK\r\nno colon\r\n\r\n", "200 OK\r\nContent-Length: -1\r\n\r\n", "200 OK\r\nContent-Length: 99999999999\r\n\r\n",
		"200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		var r ClientResponse
		var pe *ProtocolError
		if _, err := ParseResponse([]byte(bad), &r); !errors.As(err, &pe) {
			t.Errorf("%q: err=%v, want a ProtocolError", bad, err)
		}
	}
}

func TestTicks(t *testing.T) {
	// 2000-01-01T00:00:00 is 630822816000000000 ticks.
	utc := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := TicksFromTime(utc); got != 630822816000000000 {
		t.Fatalf("TicksFromTime(utc) = %d", got)
	}
	// Ticks are of the wall clock in t's own zone, as .NET's local DateTime.
	zone := time.FixedZone("UTC+2", 2*3600)
	if got := TicksFromTime(utc.In(zone)); got != 630822816000000000+2*3600*ticksPerSecond {
		t.Fatalf("TicksFromTime(+2) = %d", got)
	}
	if got := TicksFromTime(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)); got != 0 {
		t.Fatalf("year 1 = %d", got)
	}
	for _, tm := range []time.Time{
		time.Date(2024, 3, 31, 1, 59, 59, 999999900, zone),
		time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999900, zone),
		time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC),
	} {
		back := TimeFromTicks(TicksFromTime(tm), tm.Location())
		if !back.Equal(tm) {
			t.Errorf("round trip %v -> %v", tm, back)
		}
	}
	if got := TimeFromTicks(630822816000000000, nil); got.Location() != time.Local {
		t.Errorf("nil location gives %v", got.Location())
	}
}

// TargetKey agrees with the key Parse derives, for the targets web servers send.
func TestTargetKeyMatchesParse(t *testing.T) {
	for _, target := range []string{ClientTarget("/LM/W3SVC/1/ROOT/Shop", "kf51kjsndazux1l0vjlec5jw"),
		"//double", "/a%2Fb+c(%41)", "plain"} {
		var req Request
		raw := AppendRequest(nil, &ClientRequest{Method: MethodGet, Target: target, Host: "h"})
		if _, err := NewParser(DefaultLimits()).Parse(raw, &req); err != nil {
			t.Fatal(err)
		}
		if got := TargetKey(target); got != string(req.Key) {
			t.Fatalf("%q: TargetKey %q, Parse %q", target, got, req.Key)
		}
	}
}
