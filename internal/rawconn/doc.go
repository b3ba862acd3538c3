// Package rawconn reads and writes a TCP connection's socket with raw system
// calls, on Linux, so that the hot paths of the gateway (the web servers'
// connections in package frontend, the Redis pipelines in package
// redisstore) do not tell the Go scheduler that they are in a system call.
//
// # Why
//
// net.Conn's Read and Write announce every system call to the scheduler
// (entersyscall). Two things follow from that under load, and both were
// measured (BENCHMARKS.md, session 6):
//   - When every P has gone idle, the scheduler's monitor thread (sysmon)
//     sleeps; the next announced system call wakes it, and it polls every
//     20 µs again until it has found nothing to do 50 times in a row. A
//     gateway that goes idle between bursts keeps it polling: 10% of the
//     gateway's CPU time in a Redis read benchmark.
//   - A thread that the kernel preempts during a write (a loopback write
//     runs the receiver's TCP stack, and waking the receiver may preempt
//     the writer) leaves its P "in a system call"; after 20 µs sysmon hands
//     the P to another thread, and the first one finds it gone and sleeps.
//     Both cost context switches.
//
// The socket is non-blocking (the runtime's network poller owns it), so a
// read or write never blocks in the kernel: it returns EAGAIN, and Conn then
// waits through syscall.RawConn, which parks the goroutine on the poller as
// net.Conn does. Deadlines, Close from another goroutine and errors behave as
// with net.Conn; the errors are the same kinds (io.EOF, a *net.OpError
// wrapping os.ErrDeadlineExceeded, net.ErrClosed or the errno).
//
// The price: while the kernel copies a write, its P stays with it instead
// of being handed to another thread after 20 µs. A write copies at most
// what the socket's send buffer has room for, and the other Ps go on
// running goroutines meanwhile.
//
// # Concurrency
//
// One Read and one Write (or Writev) may run at the same time, from two
// goroutines; two Reads, or two Writes, may not. PeerClosed counts as a Read.
//
// # What it does not do
//
// Only *net.TCPConn on Linux takes the raw path. Anything else (TLS, a
// net.Pipe in a test, another platform) goes through the net.Conn it wraps,
// with the same results. Conn does no buffering of its own.
package rawconn
