package link

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateWriter records each Write as one system call would be; the first
// Write waits for release, and after failAfter bytes (if > 0) it fails.
type gateWriter struct {
	mu        sync.Mutex
	writes    [][]byte
	entered   chan struct{} // closed when the first Write starts
	release   chan struct{}
	failAfter int
	total     int
}

func newGateWriter() *gateWriter {
	return &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	first := len(g.writes) == 0
	g.writes = append(g.writes, bytes.Clone(p))
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failAfter > 0 && g.total+len(p) > g.failAfter {
		n := g.failAfter - g.total
		g.total = g.failAfter
		return n, errors.New("connection reset")
	}
	g.total += len(p)
	return len(p), nil
}

func (g *gateWriter) stream() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return bytes.Join(g.writes, nil)
}

func (g *gateWriter) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.writes)
}

// countingWriter counts writes and calls onWrite in each.
type countingWriter struct {
	n       atomic.Int64
	onWrite func()
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(1)
	if w.onWrite != nil {
		w.onWrite()
	}
	return len(p), nil
}

// writerConn is a dialed conn whose writer writes to w: only its send side
// runs.
func writerConn(t *testing.T, w io.Writer) *conn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	c := newConn(&Mesh{ctx: context.Background()}, "gw2", a, nil, true)
	c.bw = bufio.NewWriterSize(w, chunkSize+headerSize)
	c.wg.Add(1)
	go c.writeLoop()
	t.Cleanup(func() {
		c.close(errors.New("test over"))
		c.wg.Wait()
	})
	return c
}

// TestWriterCoalesces: messages sent while a write is under way leave
// together in the next write, in the order they were sent, and none of
// their senders waits for that write.
func TestWriterCoalesces(t *testing.T) {
	g := newGateWriter()
	c := writerConn(t, g)
	first := &outMsg{typ: tRequest, id: 1, payload: []byte("first")}
	go c.send(first, sendNow)
	<-g.entered // the first sender holds the role, inside its write
	for id := uint64(2); id <= 4; id++ {
		if !c.send(&outMsg{typ: tRequest, id: id, payload: []byte("next")}, sendNow) {
			t.Fatal("send on an open link reported closed")
		}
	}
	close(g.release)
	want := len(encode(first)) + 3*len(encode(&outMsg{typ: tRequest, id: 2, payload: []byte("next")}))
	deadline := time.Now().Add(5 * time.Second)
	for len(g.stream()) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes written", len(g.stream()), want)
		}
		time.Sleep(time.Millisecond)
	}
	fr := newFrameReader(bytes.NewReader(g.stream()), 1<<20)
	for id := uint64(1); id <= 4; id++ {
		msg, err := fr.next()
		if err != nil || msg.id != id {
			t.Fatalf("frame %d: id %d, %v", id, msg.id, err)
		}
	}
	if n := g.count(); n != 2 {
		t.Errorf("%d writes for 4 messages, want 2 (the first alone, then the three that queued behind it)", n)
	}
}

// TestWriterFailedFlushSaysWhatLeft: when a write fails partway, a message
// whose bytes all left may have run at the peer (sent), and one cut short
// or never written cannot have (not sent, so its caller gets ErrNotSent).
func TestWriterFailedFlushSaysWhatLeft(t *testing.T) {
	g := newGateWriter()
	one := len(encode(&outMsg{typ: tRequest, id: 2, payload: []byte("whole")}))
	g.failAfter = len(encode(&outMsg{typ: tRequest, id: 1, payload: []byte("first")})) + one + 3
	close(g.release)
	c := writerConn(t, g)
	// Held in the queue while the role is taken, so the three go in one flush.
	c.out.mu.Lock()
	c.out.writing = true
	c.out.mu.Unlock()
	msgs := []*outMsg{
		{typ: tRequest, id: 1, payload: []byte("first")},
		{typ: tRequest, id: 2, payload: []byte("whole")},
		{typ: tRequest, id: 3, payload: []byte("cut short")},
		{typ: tRequest, id: 4, payload: []byte("after")},
	}
	for _, m := range msgs {
		c.send(m, sendNow)
	}
	c.writeOut(0)
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("a failed write did not close the link")
	}
	for i, want := range []bool{true, true, false, false} {
		if got := c.out.wasSent(msgs[i]); got != want {
			t.Errorf("message %d: sent = %v, want %v", msgs[i].id, got, want)
		}
	}
}

// TestWriterCallerPassesTheRole: a sender writes at most callerFlushes
// times for others, then leaves the rest to the writer goroutine.
func TestWriterCallerPassesTheRole(t *testing.T) {
	var w countingWriter
	c := writerConn(t, &w)
	// Every flush finds something new queued: a sender that never let go
	// would write forever.
	w.onWrite = func() {
		c.send(&outMsg{typ: tPing, id: 9}, sendBackground)
	}
	done := make(chan struct{})
	go func() {
		c.send(&outMsg{typ: tRequest, id: 1, payload: []byte("x")}, sendNow)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sender kept the writer's role")
	}
	if n := w.n.Load(); n < callerFlushes {
		t.Errorf("%d writes before the sender returned, want at least %d", n, callerFlushes)
	}
	// The writer goroutine carries on.
	before := w.n.Load()
	deadline := time.Now().Add(5 * time.Second)
	for w.n.Load() < before+10 {
		if time.Now().After(deadline) {
			t.Fatal("nobody writes after the sender passed the role on")
		}
		time.Sleep(time.Millisecond)
	}
	c.close(errors.New("stop"))
}
