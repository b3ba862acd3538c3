package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

func startTap(t *testing.T, upstream string) (*tapServer, *syncBuffer) {
	t.Helper()
	var log syncBuffer
	tap, err := listenTap(tapConfig{Listen: "127.0.0.1:0", Upstream: upstream, DialTimeout: 5 * time.Second, Out: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	return tap, &log
}

func TestTapRelaysCeilingUnchanged(t *testing.T) {
	ceil, err := listenCeiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ceil.Close()
	tap, log := startTap(t, ceil.Addr())

	target := wire.ClientTarget("/LM/W3SVC/1/ROOT/Shop", "kf51kjsndazux1l0vjlec5jw")
	get := wire.AppendRequest(nil, &wire.ClientRequest{Method: wire.MethodGet, Target: target, Host: "h", Exclusive: wire.ExclusiveAcquire})
	put := wire.AppendRequest(nil, &wire.ClientRequest{Method: wire.MethodPut, Target: target, Host: "h",
		Timeout: locking.Num{Value: 20, Present: true, Valid: true}, LockCookie: locking.Num{Value: 2, Present: true, Valid: true},
		Body: []byte{0x14, 0, 0, 0, 0, 0, 0xff}})

	c, err := net.Dial("tcp", tap.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	want := ceil.resp
	got := make([]byte, len(want))
	// The GET in one write, the PUT split inside its head and its body.
	for _, chunks := range [][][]byte{{get}, {put[:10], put[10 : len(put)-3], put[len(put)-3:]}} {
		for _, ch := range chunks {
			if _, err := c.Write(ch); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("response through the tap differs from the ceiling's:\n%q\n%q", got, want)
		}
	}
	c.Close()
	waitFor(t, log, "conn 1 closed")
	tap.Close() // waits for the loggers
	out := log.String()
	for _, w := range []string{
		"conn 1 > GET /LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/kf51kjsndazux1l0vjlec5jw Exclusive=acquire\n",
		"conn 1 > PUT /LM/W3SVC/1/ROOT/Shop(bYtVMaohfZFUiXYkEsOyO6OYDIrLpeN/XWE/4khrD9U=)/kf51kjsndazux1l0vjlec5jw Timeout=20 LockCookie=2 body=7B (14000000 0000ff)\n",
		"conn 1 < 200 Timeout=20 body=1024B (01080f16 1d242b32",
		"conn 1 closed: client closed the connection\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "conn 1 < 200"); n != 2 {
		t.Errorf("%d responses logged, want 2:\n%s", n, out)
	}
	// Each request is logged before its response.
	var order []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && (f[2] == ">" || f[2] == "<") {
			order = append(order, f[2]+f[3])
		}
	}
	if got := strings.Join(order, " "); got != ">GET <200 >PUT <200" {
		t.Errorf("log order %q", got)
	}
}

// recorder is an upstream that records what it receives and answers with
// fixed bytes (which need not be a valid response).
type recorder struct {
	mu   sync.Mutex // guards got
	got  []byte
	conn chan net.Conn
	eof  chan struct{} // closed when the upstream side sees the connection end
}

func startRecorder(t *testing.T) (*recorder, string) {
	rec := &recorder{conn: make(chan net.Conn, 1), eof: make(chan struct{})}
	s := startServer(t, func(c net.Conn) {
		rec.conn <- c
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			rec.mu.Lock()
			rec.got = append(rec.got, buf[:n]...)
			rec.mu.Unlock()
			if err != nil {
				close(rec.eof)
				return
			}
		}
	})
	return rec, s.addr()
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got)
}

func TestTapForwardsGarbageAndClosesBothWays(t *testing.T) {
	rec, addr := startRecorder(t)
	tap, log := startTap(t, addr)

	c, err := net.Dial("tcp", tap.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	sent := []byte("HEAD k HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01garbage\xff\r\n\r\n")
	if _, err := c.Write(sent); err != nil {
		t.Fatal(err)
	}
	var up net.Conn
	select {
	case up = <-rec.conn:
	case <-time.After(5 * time.Second):
		t.Fatal("no upstream connection")
	}
	// Upstream to client: a response without "HTTP/1.1 ", then close.
	reply := []byte("404 Not Found\r\nX-AspNet-Version: 2.0.50727\r\nContent-Length: 0\r\n\r\n")
	if _, err := up.Write(reply); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(reply))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, reply) {
		t.Fatalf("client got %q, %v", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(rec.bytes(), sent) {
		if time.Now().After(deadline) {
			t.Fatalf("upstream got %q, want %q", rec.bytes(), sent)
		}
		time.Sleep(time.Millisecond)
	}
	up.Close()
	// The tap closes the client side too.
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after upstream close: %d, %v", n, err)
	}
	tap.Close()
	out := log.String()
	for _, w := range []string{
		"conn 1 > HEAD k\n",
		"conn 1 > unparseable (",
		"|..garbage.....|",
		"conn 1 < 404\n",
		"conn 1 closed: upstream closed the connection\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
}

func TestTapClosesUpstreamWhenClientLeaves(t *testing.T) {
	rec, addr := startRecorder(t)
	tap, _ := startTap(t, addr)
	c, err := net.Dial("tcp", tap.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET k HTTP/1.1\r\n\r\n"))
	select {
	case <-rec.conn:
	case <-time.After(5 * time.Second):
		t.Fatal("no upstream connection")
	}
	c.Close()
	select {
	case <-rec.eof:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream connection still open after the client left")
	}
	if got := string(rec.bytes()); got != "GET k HTTP/1.1\r\n\r\n" {
		t.Errorf("upstream got %q", got)
	}
}

func waitFor(t *testing.T, log *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q after 5s:\n%s", s, log.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	release chan struct{}
	syncBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.syncBuffer.Write(p)
}

// A log that cannot keep up must not hold the traffic back: the relay goes
// on, and the log says what it skipped.
func TestTapNeverWaitsForTheLog(t *testing.T) {
	ceil, err := listenCeiling("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ceil.Close()
	out := &blockingWriter{release: make(chan struct{})}
	// A backlog of about three responses.
	tap, err := listenTap(tapConfig{Listen: "127.0.0.1:0", Upstream: ceil.Addr(), DialTimeout: 5 * time.Second, Out: out, Backlog: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(out.release)
		}
		tap.Close()
	}()

	// The "open" line already blocks the writer; 50 round trips must still
	// go through.
	c, err := net.Dial("tcp", tap.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	get := wire.AppendRequest(nil, &wire.ClientRequest{Method: wire.MethodGet, Target: "k"})
	got := make([]byte, len(ceil.resp))
	for i := range 50 {
		if _, err := c.Write(get); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("round trip %d while the log is blocked: %v", i, err)
		}
	}
	c.Close()
	close(out.release)
	released = true
	waitFor(t, &out.syncBuffer, "conn 1 closed")
	if s := out.String(); !strings.Contains(s, "[log fell behind: ") {
		t.Errorf("log does not say it skipped bytes:\n%s", s)
	}
}
