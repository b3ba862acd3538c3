package rawconn

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// wantRaw: the platforms with a raw path must use it for TCP.
func wantRaw() bool {
	return runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64")
}

func TestTCPUsesRawPathWhereAvailable(t *testing.T) {
	a, _ := tcpPair(t)
	if got := New(a).Raw(); got != wantRaw() {
		t.Fatalf("Raw() = %v on %s/%s, want %v", got, runtime.GOOS, runtime.GOARCH, wantRaw())
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if New(p1).Raw() {
		t.Fatal("a net.Pipe must not take the raw path")
	}
}

// conns runs f on a TCP pair and on a net.Pipe pair, so that the raw path
// and the fallback are held to the same behaviour.
func conns(t *testing.T, f func(t *testing.T, c *Conn, peer net.Conn)) {
	t.Run("TCP", func(t *testing.T) {
		a, b := tcpPair(t)
		f(t, New(a), b)
	})
	t.Run("Pipe", func(t *testing.T) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		f(t, New(a), b)
	})
}

func TestReadAndWrite(t *testing.T) {
	conns(t, func(t *testing.T, c *Conn, peer net.Conn) {
		go peer.Write([]byte("request"))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "request" {
			t.Fatalf("Read = %q, %v", buf[:n], err)
		}
		if _, isTCP := peer.(*net.TCPConn); isTCP { // a net.Pipe waits for a write even then
			if n, err := c.Read(buf[:0]); n != 0 || err != nil {
				t.Fatalf("Read of 0 bytes = %d, %v", n, err)
			}
		}
		got := make(chan string, 1)
		go func() {
			b := make([]byte, 64)
			n, _ := io.ReadFull(peer, b[:8])
			got <- string(b[:n])
		}()
		if n, err := c.Write([]byte("response")); n != 8 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if s := <-got; s != "response" {
			t.Fatalf("peer read %q", s)
		}
	})
}

// TestWritevPartialWrites sends more buffers than one writev takes (IOV_MAX)
// and more bytes than the socket buffers hold, to a peer that reads slowly:
// the writes come back short and with EAGAIN, and every byte must still
// arrive once, in order.
func TestWritevPartialWrites(t *testing.T) {
	conns(t, func(t *testing.T, c *Conn, peer net.Conn) {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			tc.SetWriteBuffer(4 << 10)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var bufs [][]byte
		var want []byte
		for i := range 3000 {
			b := make([]byte, rng.IntN(3000))
			if i%7 == 0 {
				b = nil // empty buffers are skipped
			}
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			bufs = append(bufs, b)
			want = append(want, b...)
		}
		before := make([][]byte, len(bufs))
		copy(before, bufs)
		got := make(chan []byte, 1)
		go func() {
			var all []byte
			buf := make([]byte, 1500)
			for i := 0; len(all) < len(want); i++ {
				if i%16 == 0 {
					time.Sleep(time.Millisecond)
				}
				n, err := peer.Read(buf)
				all = append(all, buf[:n]...)
				if err != nil {
					break
				}
			}
			got <- all
		}()
		n, err := c.Writev(bufs)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("Writev = %d, %v; want %d", n, err, len(want))
		}
		if all := <-got; !bytes.Equal(all, want) {
			t.Fatalf("peer got %d bytes, not the %d written in order", len(all), len(want))
		}
		for i := range bufs {
			if len(bufs[i]) != len(before[i]) || (len(bufs[i]) > 0 && &bufs[i][0] != &before[i][0]) {
				t.Fatalf("Writev changed bufs[%d]", i)
			}
		}
	})
}

func TestReadEOF(t *testing.T) {
	conns(t, func(t *testing.T, c *Conn, peer net.Conn) {
		peer.Close()
		if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("Read after peer close = %d, %v; want io.EOF", n, err)
		}
	})
}

func TestDeadlines(t *testing.T) {
	conns(t, func(t *testing.T, c *Conn, peer net.Conn) {
		c.nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past its deadline = %v", err)
		}
		// The peer never reads: the write fills the buffers and then waits
		// until its deadline.
		c.nc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		big := make([]byte, 32<<20)
		n, err := c.Writev([][]byte{big[:1<<20], big})
		if !errors.Is(err, os.ErrDeadlineExceeded) || n >= int64(len(big)) {
			t.Fatalf("Writev past its deadline = %d, %v", n, err)
		}
	})
}

func TestCloseWakesRead(t *testing.T) {
	conns(t, func(t *testing.T, c *Conn, peer net.Conn) {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 8))
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		c.nc.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("Read on a closed conn = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake a blocked Read")
		}
	})
}

// TestReset: a peer that resets the connection is an error (not EOF), and
// PeerClosed sees it. The kernel reports a reset once: to the Read, or to
// the peek.
func TestReset(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	b.SetLinger(0)
	b.Close()
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset = %v, want ECONNRESET", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("Read's error %T is not a *net.OpError", err)
	}

	a, b = tcpPair(t)
	c = New(a)
	b.SetLinger(0)
	b.Close()
	waitPeerClosed(t, c, "the reset")
}

// waitPeerClosed waits until PeerClosed reports what the peer did.
func waitPeerClosed(t *testing.T, c *Conn, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.PeerClosed() {
		if time.Now().After(deadline) {
			t.Fatalf("PeerClosed never saw %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPeerClosedDoesNotConsume(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	if c.PeerClosed() {
		t.Fatal("PeerClosed on an open, quiet connection")
	}
	b.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	if c.PeerClosed() {
		t.Fatal("PeerClosed with data waiting")
	}
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("Read after peeking = %q, %v", buf[:n], err)
	}
	b.Close()
	waitPeerClosed(t, c, "the close")
}

// TestConcurrentReadAndWrite: one reader and one writer at once (the race
// detector checks that their state is apart).
func TestConcurrentReadAndWrite(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	go io.Copy(b, b) // echo
	const rounds = 2000
	msg := bytes.Repeat([]byte("0123456789"), 100)
	errc := make(chan error, 1)
	go func() {
		for range rounds {
			if _, err := c.Writev([][]byte{msg[:500], msg[500:]}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := make([]byte, 0, rounds*len(msg))
	buf := make([]byte, 4096)
	for len(got) < rounds*len(msg) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat(msg, rounds)) {
		t.Fatal("echoed bytes differ")
	}
}

// TestNoAllocations: the raw path allocates nothing per call.
func TestNoAllocations(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	go io.Copy(b, b)
	out, in := []byte("ping"), make([]byte, 16)
	bufs := [][]byte{out[:2], out[2:]}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Writev(bufs); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, in[:8]); err != nil {
			t.Fatal(err)
		}
		c.PeerClosed()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Writev+Write+Read+PeerClosed, want 0", allocs)
	}
}
