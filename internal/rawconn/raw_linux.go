//go:build linux && (amd64 || arm64)

package rawconn

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

const (
	iovMax = 1024    // IOV_MAX: buffers per writev
	maxRW  = 1 << 30 // bytes per read, as internal/poll caps them
)

// raw does a Conn's I/O on the socket itself. Each callback reads its
// arguments from, and leaves its results in, the fields of its own
// direction, so that Read and Write may run at once; the callbacks are
// method values made once, so a call allocates nothing.
type raw struct {
	rc     syscall.RawConn
	tc     *net.TCPConn // for the addresses in errors
	readFn func(uintptr) bool
	peekFn func(uintptr) bool
	wrFn   func(uintptr) bool

	// The read in progress.
	p      []byte
	n      int
	rerrno syscall.Errno
	peek   [1]byte

	// The write in progress: iov still to write, and what is done.
	iov    []syscall.Iovec
	wn     int
	werrno syscall.Errno
	one    [1][]byte // Write's buffer, as writev's argument
}

func newRaw(nc net.Conn) *raw {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &raw{rc: rc, tc: tc}
	r.readFn, r.peekFn, r.wrFn = r.doRead, r.doPeek, r.doWritev
	return r
}

// opError wraps a failed system call as net.Conn would.
func (r *raw) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: r.tc.LocalAddr(), Addr: r.tc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

func (r *raw) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p, r.n, r.rerrno = p[:min(len(p), maxRW)], 0, 0
	err := r.rc.Read(r.readFn) // waits on the poller while doRead says EAGAIN
	r.p = nil
	switch {
	case err != nil:
		return 0, err
	case r.rerrno != 0:
		return 0, r.opError("read", r.rerrno)
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

func (r *raw) doRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.p))), uintptr(len(r.p)))
		switch e {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rerrno = e
		return true
	}
}

func (r *raw) peerClosed() bool {
	r.n, r.rerrno = -1, 0
	if err := r.rc.Read(r.peekFn); err != nil {
		return false
	}
	return r.n == 0 || (r.rerrno != 0 && r.rerrno != syscall.EAGAIN && r.rerrno != syscall.EINTR)
}

// doPeek never waits for readability: no data yet means "not closed".
func (r *raw) doPeek(fd uintptr) bool {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.peek[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		r.rerrno = e
	} else {
		r.n = int(n)
	}
	return true
}

func (r *raw) write(p []byte) (int, error) {
	r.one[0] = p
	n, err := r.writev(r.one[:])
	r.one[0] = nil
	return n, err
}

func (r *raw) writev(bufs [][]byte) (int, error) {
	iov := r.iov[:0]
	for _, b := range bufs {
		iov = appendIovec(iov, b)
	}
	if len(iov) == 0 {
		return 0, nil
	}
	all := iov
	r.iov, r.wn, r.werrno = iov, 0, 0
	err := r.rc.Write(r.wrFn) // waits on the poller while doWritev says EAGAIN
	clear(all)                // drop the pointers into the caller's buffers
	r.iov = all[:0]
	n := r.wn
	if err == nil && r.werrno != 0 {
		err = r.opError("writev", r.werrno)
	}
	return n, err
}

func (r *raw) doWritev(fd uintptr) bool {
	for len(r.iov) > 0 {
		iov := r.iov[:min(len(r.iov), iovMax)]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			r.werrno = e
			return true
		}
		r.wn += int(n)
		r.consume(int(n))
	}
	return true
}

func appendIovec(iov []syscall.Iovec, b []byte) []syscall.Iovec {
	if len(b) == 0 {
		return iov
	}
	v := syscall.Iovec{Base: unsafe.SliceData(b)}
	v.SetLen(len(b))
	return append(iov, v)
}

// consume drops the first n written bytes from r.iov.
func (r *raw) consume(n int) {
	for n > 0 {
		v := &r.iov[0]
		if l := int(v.Len); n < l {
			v.Base = (*byte)(unsafe.Add(unsafe.Pointer(v.Base), n))
			v.SetLen(l - n)
			return
		}
		n -= int(v.Len)
		r.iov = r.iov[1:]
	}
}
