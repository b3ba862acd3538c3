package wire

import "testing"

const V = "4.0.30319"

// Exact bytes of every template of docs/protocol.md §3.4.
func TestAppendResponseTemplates(t *testing.T) {
	cases := []struct {
		name string
		r    Response
		want string
	}{
		{"T200", Response{Status: 200},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
		{"T200AF", Response{Status: 200, ActionFlags: true},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nActionFlags: 1\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
		{"T200G", Response{Status: 200, Timeout: 20, HasTimeout: true, Body: []byte(B7)},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 7\r\n\r\n" + B7},
		{"T200G ActionFlags", Response{Status: 200, ActionFlags: true, Timeout: 20, HasTimeout: true, Body: []byte(B7)},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nActionFlags: 1\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 7\r\n\r\n" + B7},
		{"T200G empty body", Response{Status: 200, Timeout: 20, HasTimeout: true, Body: []byte{}},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
		{"T200X", Response{Status: 200, LockCookie: 2, HasLockCookie: true, Timeout: 20, HasTimeout: true, Body: []byte(B26)},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nLockCookie: 2\r\nTimeout: 20\r\nCache-Control: private\r\nContent-Length: 26\r\n\r\n" + B26},
		{"T200X ActionFlags", Response{Status: 200, ActionFlags: true, LockCookie: 2147483647, HasLockCookie: true, Timeout: 525600, HasTimeout: true, Body: []byte(B7)},
			"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nActionFlags: 1\r\nLockCookie: 2147483647\r\nTimeout: 525600\r\nCache-Control: private\r\nContent-Length: 7\r\n\r\n" + B7},
		{"T404", Response{Status: 404, Body: []byte("ignored")},
			"HTTP/1.1 404 Not Found\r\nX-AspNet-Version: 4.0.30319\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
		{"T423", Response{Status: 423, LockCookie: 2, HasLockCookie: false, LockDateTicks: 638400000000000000, LockAgeSeconds: 5, Body: []byte("ignored")},
			"HTTP/1.1 423 Locked\r\nX-AspNet-Version: 4.0.30319\r\nLockDate: 638400000000000000\r\nLockAge: 5\r\nLockCookie: 2\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
		{"T400", Response{Status: 400},
			"HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: 4.0.30319\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
		{"other status is 400", Response{Status: 500, Body: []byte("x")},
			"HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: 4.0.30319\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendResponse([]byte("prefix"), V, &tc.r)
			if string(got) != "prefix"+tc.want {
				t.Fatalf("\ngot  %q\nwant %q", got, "prefix"+tc.want)
			}
			// What we send, our own client reads back.
			var cr ClientResponse
			n, err := ParseResponse(got[len("prefix"):], &cr)
			if err != nil || n != len(tc.want) || string(cr.Version) != V {
				t.Fatalf("ParseResponse: n=%d err=%v version=%q", n, err, cr.Version)
			}
		})
	}
}

func TestAppendResponseAllocs(t *testing.T) {
	dst := make([]byte, 0, 512)
	r := Response{Status: 200, ActionFlags: true, LockCookie: 3, HasLockCookie: true, Timeout: 20, HasTimeout: true, Body: []byte(B26)}
	l := Response{Status: 423, LockCookie: 3, LockDateTicks: 638400000000000000, LockAgeSeconds: 1}
	if a := testing.AllocsPerRun(100, func() {
		dst = AppendResponse(dst[:0], V, &r)
		dst = AppendResponse(dst, V, &l)
	}); a != 0 {
		t.Fatalf("%v allocations per run", a)
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	dst := make([]byte, 0, 512)
	r := Response{Status: 200, LockCookie: 3, HasLockCookie: true, Timeout: 20, HasTimeout: true, Body: []byte(B26)}
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendResponse(dst[:0], V, &r)
	}
}
