//go:build unix

package frontend

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed tells whether the client has closed or reset its side, without
// consuming any data: a non-blocking MSG_PEEK that returns 0 bytes means EOF.
// It lets a GetExclusive whose client already gave up leave the session
// unlocked (protocol.md case 57). False when it cannot tell.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			closed = true // ECONNRESET and friends
		}
		return true // never wait for readability
	})
	return closed
}
