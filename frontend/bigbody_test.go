package frontend_test

import (
	"strconv"
	"strings"
	"testing"
)

// A body far larger than the connection's initial buffer, arriving in
// pieces, makes the buffer grow to the announced size and round-trips intact;
// the next request on the same connection still works.
func TestLargeBodyGrowsBuffer(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	body := strings.Repeat("0123456789abcdef", 300<<10/16) // 300 KiB
	req := rq("PUT", U1, "Timeout: 20\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n", body)
	for i := 0; i < len(req); i += 7000 {
		c.send(req[i:min(i+7000, len(req))])
	}
	c.expect(t200)
	c.do(rq("GET", U1, "", ""), t200g(20, body, false))
	c.do(rq("HEAD", U1, "", ""), t200)
	c.finish()
}
