package frontend_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/frontend"
)

// BenchmarkRequestMetrics is BenchmarkRequestPath's read (Get1KiB) and
// cycle (ExclusivePut1KiB) over net.Pipe, the server's CPU cost without the
// kernel, with request timing off (what a gateway without admin.listen
// does: only the per-connection counters) and on (admin.listen set). With
// -count N the two alternate, N rounds each:
//
//	go test -run '^$' -bench RequestMetrics -count 8 ./frontend
func BenchmarkRequestMetrics(b *testing.B) {
	body := strings.Repeat("s", 1024)
	for _, timing := range []string{"off", "on"} {
		mod := func(c *frontend.Config) { c.RequestTiming = timing == "on" }
		b.Run("read/timing="+timing, func(b *testing.B) {
			c := newBenchClient(b, "pipe", mod)
			c.roundTrip(b, []byte(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 1024\r\n", body)), 200)
			get := []byte(rq("GET", U1, "", ""))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.roundTrip(b, get, 200)
			}
		})
		b.Run("cycle/timing="+timing, func(b *testing.B) {
			c := newBenchClient(b, "pipe", mod)
			c.roundTrip(b, []byte(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 1024\r\n", body)), 200)
			acquire := []byte(rq("GET", U1, "Exclusive: acquire\r\n", ""))
			putHead := "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: "
			putTail := "\r\nContent-Length: 1024\r\n\r\n" + body
			put := make([]byte, 0, len(putHead)+len(putTail)+16)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.roundTrip(b, acquire, 200)
				put = append(put[:0], putHead...)
				put = strconv.AppendInt(put, int64(c.resp.LockCookie.Value), 10)
				put = append(put, putTail...)
				c.roundTrip(b, put, 200)
			}
		})
	}
}
