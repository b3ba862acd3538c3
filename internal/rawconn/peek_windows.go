package rawconn

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// WSAPoll is not in golang.org/x/sys/windows; ws2_32.dll has it since
// Windows Vista.
var procWSAPoll = windows.NewLazySystemDLL("ws2_32.dll").NewProc("WSAPoll")

// wsaPollFD is WSAPOLLFD.
type wsaPollFD struct {
	fd      uintptr
	events  int16
	revents int16
}

const (
	pollRDNORM = 0x0100
	pollERR    = 0x0001
	pollHUP    = 0x0002
	pollNVAL   = 0x0004
)

// peeker is PeerClosed on Windows. Go's sockets there are not in
// non-blocking mode, so a plain MSG_PEEK could block: WSAPoll with a zero
// timeout first tells whether anything (data, FIN or reset) is waiting, and
// only then a one-byte MSG_PEEK, which cannot block, tells a close (0 bytes)
// or a reset (an error) from data. Its callback is made on first use and
// kept, so later calls allocate nothing.
type peeker struct {
	rc     syscall.RawConn
	fn     func(fd uintptr)
	closed bool
	pfd    wsaPollFD
	buf    [1]byte
	wbuf   windows.WSABuf
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
		if procWSAPoll.Find() != nil {
			return false
		}
		p.rc, p.fn = rc, p.peek
		p.wbuf = windows.WSABuf{Len: 1, Buf: &p.buf[0]}
	}
	p.closed = false
	if err := p.rc.Control(p.fn); err != nil {
		return false
	}
	return p.closed
}

func (p *peeker) peek(fd uintptr) {
	p.pfd = wsaPollFD{fd: fd, events: pollRDNORM}
	n, _, _ := procWSAPoll.Call(uintptr(unsafe.Pointer(&p.pfd)), 1, 0)
	switch {
	case int32(n) <= 0:
		return // nothing waiting, or WSAPoll failed: cannot tell
	case p.pfd.revents&pollRDNORM == 0:
		// Nothing to read: closed only if the socket reports an error or
		// a hang-up.
		p.closed = p.pfd.revents&(pollERR|pollHUP|pollNVAL) != 0
		return
	}
	// Something to read: data (not closed, as on Unix, even if a FIN
	// follows it), the FIN itself (0 bytes) or a reset (an error).
	var got, flags uint32 = 0, windows.MSG_PEEK
	err := windows.WSARecv(windows.Handle(fd), &p.wbuf, 1, &got, &flags, nil, nil)
	p.closed = err != nil || got == 0 // a reset, or the peer's FIN
}
