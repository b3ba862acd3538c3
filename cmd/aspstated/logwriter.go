package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Logging must never kill or block the server (issue 17). main ignores
// SIGPIPE, so a write to a closed stderr returns EPIPE instead of killing the
// process; and the logger writes through a logWriter, which hands each line
// to one goroutine through a bounded queue, so a stderr nobody reads (a full
// pipe) only costs dropped lines, counted and reported when writing works
// again.

// logQueue is how many log lines may wait to be written.
const logQueue = 4096

// logWriter is an io.Writer that never blocks and never fails; see above.
type logWriter struct {
	w       io.Writer
	lines   chan []byte
	dropped atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newLogWriter(w io.Writer) *logWriter {
	lw := &logWriter{w: w, lines: make(chan []byte, logQueue), done: make(chan struct{})}
	go lw.run()
	return lw
}

// Write queues a copy of p, or drops it when the queue is full.
func (lw *logWriter) Write(p []byte) (int, error) {
	select {
	case lw.lines <- append([]byte(nil), p...):
	default:
		lw.dropped.Add(1)
	}
	return len(p), nil
}

func (lw *logWriter) run() {
	defer close(lw.done)
	for line := range lw.lines {
		if n := lw.dropped.Swap(0); n > 0 {
			fmt.Fprintf(lw.w, "aspstated: %d log lines dropped: the log output was not keeping up\n", n)
		}
		lw.w.Write(line) // an error (EPIPE) loses the line, nothing more
	}
}

// Close writes what is queued, waiting at most wait (the output may be stuck).
func (lw *logWriter) Close(wait time.Duration) {
	lw.once.Do(func() { close(lw.lines) })
	select {
	case <-lw.done:
	case <-time.After(wait):
	}
}

// warnListen warns at start when the gateway accepts clients from beyond
// loopback without allowed_networks, and always for a wildcard address
// (0.0.0.0 or ::, which on most systems also opens every IPv6 address).
// The protocol has no authentication: whoever can connect can read and
// change every session.
func warnListen(log *slog.Logger, listen string, addr net.Addr, allowed []netip.Prefix) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return
	}
	ip, _ := netip.ParseAddr(host)
	wildcard := host == "" || ip.IsUnspecified()
	if wildcard {
		log.Warn("listening on every address of the machine (the wildcard also opens every IPv6 address); "+
			"the protocol has no authentication: whoever can connect can read and change every session",
			"listen", listen, "addr", addr.String(), "allowed_networks", prefixes(allowed))
	}
	if len(allowed) > 0 {
		return
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && !wildcard && tcp.IP.IsLoopback() {
		return
	}
	log.Warn("listening beyond loopback without allowed_networks: any host that can reach this port may use "+
		"every session; set allowed_networks to the web servers' networks", "listen", listen, "addr", addr.String())
}
