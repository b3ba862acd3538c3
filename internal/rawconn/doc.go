// Package rawconn reads and writes a TCP connection's socket with raw system
// calls, on Linux, so that the hot paths of the gateway (the web servers'
// connections in package frontend, the Redis pipelines in package
// redisstore) do not tell the Go scheduler that they are in a system call.
//
// # What it does
//
// Conn offers Read, Write, Writev (several buffers, one writev per system
// call the socket's buffer allows) and PeerClosed (a non-blocking peek that
// tells whether the peer has closed, without consuming data). The socket is
// non-blocking (the runtime's network poller owns it), so a call never blocks
// in the kernel: on EAGAIN, Conn waits through syscall.RawConn, which parks
// the goroutine on the poller as net.Conn does. Deadlines and Close stay with
// the wrapped net.Conn and behave as usual.
//
// Why: net.Conn announces every system call to the scheduler. Under load that
// kept the scheduler's monitor thread polling every 20 µs (10% of the
// gateway's CPU in a Redis read benchmark) and made threads preempted during
// a loopback write lose their P, costing context switches (BENCHMARKS.md,
// session 6). The price: while the kernel copies a write, its P stays with it;
// a write copies at most what the send buffer has room for.
//
// # Concurrency
//
// One Read and one Write (or Writev) may run at the same time, from two
// goroutines; two Reads, or two Writes, may not. PeerClosed counts as a Read.
//
// # Ownership of bytes
//
// Conn does no buffering of its own and keeps no reference to the caller's
// buffers after a call returns; Writev does not modify bufs.
//
// # Errors
//
// The same kinds as net.Conn's: io.EOF, a *net.OpError wrapping
// os.ErrDeadlineExceeded, net.ErrClosed or the errno.
//
// # What it does not do
//
// PeerClosed works on Linux (raw path), other Unix systems (MSG_PEEK) and
// Windows (WSAPoll, then a MSG_PEEK that cannot block: peek_windows.go).
// Only *net.TCPConn on Linux takes the raw path. Anything else (TLS, a
// net.Pipe in a test, another platform) goes through the net.Conn it wraps,
// with the same results. No deadlines, no Close, no buffering.
package rawconn
