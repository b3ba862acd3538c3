//go:build unix

package frontend

import (
	"errors"
	"net"
	"syscall"
)

// peerWatch tells whether the client has closed or reset its side, without
// consuming any data: a non-blocking MSG_PEEK that returns 0 bytes means EOF.
// It lets a GetExclusive whose client already gave up leave the session
// unlocked (protocol.md case 57). It is built once per connection so that the
// check allocates nothing per request.
type peerWatch struct {
	raw    syscall.RawConn // nil when the connection has no file descriptor
	closed bool            // result of the last peek
	buf    [1]byte
	peek   func(fd uintptr) bool
}

func newPeerWatch(c net.Conn) *peerWatch {
	w := &peerWatch{}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	w.peek = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), w.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			w.closed = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
			w.closed = false
		default:
			w.closed = true // ECONNRESET and friends
		}
		return true // never wait for readability
	}
	return w
}

// peerClosed reports whether the client is known to be gone; false when it
// cannot tell.
func (w *peerWatch) peerClosed() bool {
	if w.raw == nil {
		return false
	}
	w.closed = false
	if err := w.raw.Read(w.peek); err != nil {
		return false
	}
	return w.closed
}
