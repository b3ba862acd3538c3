//go:build unix

package rawconn

import (
	"errors"
	"net"
	"syscall"
)

// peeker is PeerClosed for a connection that has a file descriptor but no
// raw path (another Unix, or a Unix socket): a non-blocking MSG_PEEK through
// syscall.RawConn. Its callback is made on first use and kept, so later
// calls allocate nothing.
type peeker struct {
	rc     syscall.RawConn
	fn     func(fd uintptr) bool
	closed bool
	buf    [1]byte
}

func (p *peeker) peerClosed(nc net.Conn) bool {
	if p.fn == nil {
		sc, ok := nc.(syscall.Conn)
		if !ok {
			return false
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		p.rc, p.fn = rc, p.peek
	}
	p.closed = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.closed
}

func (p *peeker) peek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil:
		p.closed = n == 0
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		p.closed = false
	default:
		p.closed = true // ECONNRESET and friends
	}
	return true // never wait for readability
}
