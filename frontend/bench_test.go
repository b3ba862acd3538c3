package frontend_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/frontend/wire"
)

// BenchmarkRequestPath drives whole requests through the real connection loop
// (parse, lock rules inside a memstore transition, encode, write) from a
// client that allocates nothing, so allocs/op is the server's:
//
//   - Get1KiB: a plain GET of a 1 KiB session; one request per op.
//   - ExclusivePut1KiB: GetExclusive then a PUT with the cookie that releases
//     it, the read-write page cycle; two requests per op (see req/op; the
//     ns/req metric is per request).
//
// over loopback TCP (the path a web server uses, kernel included) and over
// net.Pipe (the server's CPU cost without the kernel; but net.Pipe's
// SetReadDeadline and SetWriteDeadline allocate timers, about 4 allocations
// per request that a TCP connection does not have, so read allocs/op from
// the tcp runs).
func BenchmarkRequestPath(b *testing.B) {
	body := strings.Repeat("s", 1024)
	for _, tr := range []string{"tcp", "pipe"} {
		b.Run(tr+"/Get1KiB", func(b *testing.B) {
			c := newBenchClient(b, tr)
			c.roundTrip(b, []byte(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 1024\r\n", body)), 200)
			get := []byte(rq("GET", U1, "", ""))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.roundTrip(b, get, 200)
			}
			b.StopTimer()
			if string(c.resp.Body) != body {
				b.Fatalf("body %q", c.resp.Body)
			}
			b.ReportMetric(1, "req/op")
		})
		b.Run(tr+"/ExclusivePut1KiB", func(b *testing.B) {
			c := newBenchClient(b, tr)
			c.roundTrip(b, []byte(rq("PUT", U1, "Timeout: 20\r\nContent-Length: 1024\r\n", body)), 200)
			acquire := []byte(rq("GET", U1, "Exclusive: acquire\r\n", ""))
			putHead := "PUT " + U1 + " HTTP/1.1\r\n" + H + "Timeout: 20\r\nLockCookie: "
			putTail := "\r\nContent-Length: 1024\r\n\r\n" + body
			put := make([]byte, 0, len(putHead)+len(putTail)+16)
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.roundTrip(b, acquire, 200)
				cookie := c.resp.LockCookie.Value
				put = append(put[:0], putHead...)
				put = strconv.AppendInt(put, int64(cookie), 10)
				put = append(put, putTail...)
				c.roundTrip(b, put, 200)
				n++
			}
			b.StopTimer()
			if n > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*n), "ns/req")
			}
			b.ReportMetric(2, "req/op")
		})
	}
}

// benchClient sends one request at a time and frames the response with
// wire.ParseResponse into a reused buffer: no allocation per request.
type benchClient struct {
	nc   net.Conn
	buf  []byte
	resp wire.ClientResponse
}

func newBenchClient(b *testing.B, transport string, mods ...func(*frontend.Config)) *benchClient {
	st, err := memstore.New(memstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := frontend.Config{Backend: st, Location: time.UTC, Logger: slog.New(slog.DiscardHandler)}
	for _, mod := range mods {
		mod(&cfg)
	}
	srv, err := frontend.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var ln net.Listener
	var dial func() (net.Conn, error)
	switch transport {
	case "tcp":
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		dial = func() (net.Conn, error) { return net.DialTimeout("tcp", ln.Addr().String(), ioTimeout) }
	case "pipe":
		pl := newPipeListener()
		ln, dial = pl, pl.dial
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	nc, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
		<-served
		st.Close()
	})
	return &benchClient{nc: nc, buf: make([]byte, 64<<10)}
}

// roundTrip writes req and reads its response, which must have status want.
func (c *benchClient) roundTrip(b *testing.B, req []byte, want int) {
	if _, err := c.nc.Write(req); err != nil {
		b.Fatalf("write: %v", err)
	}
	end := 0
	for {
		n, err := wire.ParseResponse(c.buf[:end], &c.resp)
		if err == nil {
			if c.resp.Status != want || n != end {
				b.Fatalf("status %d (want %d), %d of %d bytes: %q", c.resp.Status, want, n, end, c.buf[:end])
			}
			return
		}
		if !errors.Is(err, wire.ErrIncomplete) {
			b.Fatalf("response: %v: %q", err, c.buf[:end])
		}
		m, err := c.nc.Read(c.buf[end:])
		end += m
		if err != nil && m == 0 {
			b.Fatalf("read: %v", err)
		}
	}
}

// pipeListener accepts the server ends of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) dial() (net.Conn, error) {
	cli, srv := net.Pipe()
	select {
	case l.conns <- srv:
		return cli, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
