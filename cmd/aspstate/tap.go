package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/frontend/wire"
)

// tapServer relays connections between web servers and a state server,
// unchanged in both directions, and prints what it sees. The relay goroutines
// only copy bytes; they queue a copy of each chunk for a logger goroutine per
// connection that parses and prints, so a slow terminal never delays the
// traffic (past maxLogBacklog bytes waiting, the log skips data instead).
type tapServer struct {
	connServer
	upstream    string
	dialTimeout time.Duration
	out         *lineWriter
	backlog     int // bytes a connection may queue for its logger
	nextID      atomic.Int64
}

// maxLogBacklog bounds the bytes a connection may queue for its logger.
const maxLogBacklog = 64 << 20

// tapConfig is what listenTap needs.
type tapConfig struct {
	Listen, Upstream string
	DialTimeout      time.Duration // connecting to Upstream
	Out              io.Writer     // where the log goes
	Backlog          int           // bytes a connection may queue for its logger; 0: maxLogBacklog
}

func listenTap(cfg tapConfig) (*tapServer, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = maxLogBacklog
	}
	s := &tapServer{upstream: cfg.Upstream, dialTimeout: cfg.DialTimeout,
		out: &lineWriter{w: cfg.Out}, backlog: cfg.Backlog}
	s.start(ln, s.relay)
	return s, nil
}

// relay serves one web-server connection (tracked by connServer).
func (s *tapServer) relay(down net.Conn) {
	id := s.nextID.Add(1)
	prefix := "conn " + strconv.FormatInt(id, 10) + " "
	up, err := net.DialTimeout("tcp", s.upstream, s.dialTimeout)
	if err != nil {
		down.Close()
		s.out.printf("%sfrom %s: upstream %s: %v; closed\n", prefix, down.RemoteAddr(), s.upstream, err)
		return
	}
	if !s.track(up) {
		up.Close()
		down.Close()
		return
	}
	defer s.untrack(up)

	var once sync.Once
	var reason string
	closeBoth := func(why string) {
		once.Do(func() {
			s.mu.Lock()
			if s.closed {
				why = "tap shutting down"
			}
			s.mu.Unlock()
			reason = why
			down.Close()
			up.Close()
		})
	}
	log := newConnLog(s.out, prefix, s.backlog,
		direction{prefix: prefix + "> ", dec: &requestDecoder{p: wire.NewParser(wire.DefaultLimits())}},
		direction{prefix: prefix + "< ", dec: &responseDecoder{}})
	logDone := make(chan struct{})
	go func() { defer close(logDone); log.run() }()
	log.note(fmt.Sprintf("%sopen %s -> %s\n", prefix, down.RemoteAddr(), s.upstream))

	var pumps sync.WaitGroup
	pumps.Add(1)
	go func() {
		defer pumps.Done()
		closeBoth(pump(up, down, log, dirRequest, "client", "upstream"))
	}()
	closeBoth(pump(down, up, log, dirResponse, "upstream", "client"))
	pumps.Wait()
	log.note(prefix + "closed: " + reason + "\n")
	log.close()
	<-logDone
}

// pump copies src to dst until either fails. Each chunk is queued for the
// log (a copy, never blocking) just before it is written, so that the log
// sees a request before the response it causes. It returns why it stopped.
func pump(dst, src net.Conn, log *connLog, dir int, srcName, dstName string) string {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			log.feed(dir, buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return "writing to " + dstName + ": " + werr.Error()
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return srcName + " closed the connection"
			}
			return "reading from " + srcName + ": " + err.Error()
		}
	}
}

// lineWriter serialises whole lines from many goroutines onto one writer.
type lineWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lineWriter) write(b []byte) {
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
}

func (l *lineWriter) printf(format string, args ...any) {
	l.write(fmt.Appendf(nil, format, args...))
}

// decoder turns one direction's bytes into log lines.
type decoder interface {
	// decode consumes complete messages from buf, appending one line per
	// message (each starting with prefix) to out. It returns the bytes used;
	// an error means buf does not start with a message.
	decode(buf []byte, prefix string, out []byte) (used int, _ []byte, _ error)
	reset()
}

// Directions of a relayed connection.
const (
	dirRequest  = 0  // web server to state server
	dirResponse = 1  // state server to web server
	dirNote     = -1 // a line of the tap's own, printed as is
)

// direction is the decoding state of one direction of a connection.
type direction struct {
	prefix string
	dec    decoder
	buf    []byte // bytes received but not yet decoded
}

// segment is a run of queued bytes from one direction.
type segment struct {
	dir, n int
}

// connLog queues the bytes a connection forwarded, in the order they were
// forwarded, and decodes them on its own goroutine (run).
type connLog struct {
	out     *lineWriter
	prefix  string // "conn 3 "
	backlog int
	dirs    [2]direction

	mu      sync.Mutex // guards the fields below
	cond    *sync.Cond // signalled when something is queued or closed is set
	pending []byte
	segs    []segment
	skipped int // bytes not queued because the backlog was full
	closed  bool
	spare   []byte
	spareS  []segment
}

func newConnLog(out *lineWriter, prefix string, backlog int, req, resp direction) *connLog {
	l := &connLog{out: out, prefix: prefix, backlog: backlog, dirs: [2]direction{req, resp}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// feed queues a copy of b. It never waits for the output.
func (l *connLog) feed(dir int, b []byte) {
	l.mu.Lock()
	if l.skipped > 0 || len(l.pending)+len(b) > l.backlog {
		l.skipped += len(b)
	} else {
		l.pending = append(l.pending, b...)
		if n := len(l.segs); n > 0 && l.segs[n-1].dir == dir {
			l.segs[n-1].n += len(b)
		} else {
			l.segs = append(l.segs, segment{dir: dir, n: len(b)})
		}
	}
	l.mu.Unlock()
	l.cond.Signal()
}

// note queues a line of the tap's own, in order with the traffic.
func (l *connLog) note(line string) {
	l.mu.Lock()
	l.pending = append(l.pending, line...)
	l.segs = append(l.segs, segment{dir: dirNote, n: len(line)})
	l.mu.Unlock()
	l.cond.Signal()
}

func (l *connLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cond.Signal()
}

func (l *connLog) run() {
	var out []byte
	for {
		l.mu.Lock()
		for len(l.segs) == 0 && l.skipped == 0 && !l.closed {
			l.cond.Wait()
		}
		chunk, segs, skipped, closed := l.pending, l.segs, l.skipped, l.closed
		l.pending, l.segs, l.spare, l.spareS = l.spare[:0], l.spareS[:0], nil, nil
		l.skipped = 0
		l.mu.Unlock()

		out = out[:0]
		rest := chunk
		for _, sg := range segs {
			if sg.dir == dirNote {
				out = append(out, rest[:sg.n]...)
			} else {
				out = l.dirs[sg.dir].decode(rest[:sg.n], out)
			}
			rest = rest[sg.n:]
		}
		if skipped > 0 {
			for i := range l.dirs {
				out = l.dirs[i].flush(out, "incomplete before a gap")
			}
			out = fmt.Appendf(out, "%s[log fell behind: %d bytes forwarded but not shown]\n", l.prefix, skipped)
		}
		if closed {
			for i := range l.dirs {
				out = l.dirs[i].flush(out, "incomplete at close")
			}
		}
		if len(out) > 0 {
			l.out.write(out)
		}

		l.mu.Lock()
		l.spare, l.spareS = chunk[:0], segs[:0]
		done := closed && len(l.segs) == 0 && l.skipped == 0
		l.mu.Unlock()
		if done {
			return
		}
	}
}

// decode appends b to the direction's buffer and one line per complete
// message to out.
func (d *direction) decode(b []byte, out []byte) []byte {
	d.buf = append(d.buf, b...)
	for len(d.buf) > 0 {
		n, o, err := d.dec.decode(d.buf, d.prefix, out)
		out = o
		if err != nil {
			out = appendHexDump(out, d.prefix, "unparseable ("+err.Error()+")", d.buf)
			d.buf = d.buf[:0]
			d.dec.reset()
			break
		}
		if n == 0 {
			break
		}
		d.buf = d.buf[:copy(d.buf, d.buf[n:])]
	}
	return out
}

// flush dumps the bytes of an unfinished message and starts afresh.
func (d *direction) flush(out []byte, why string) []byte {
	if len(d.buf) > 0 {
		out = appendHexDump(out, d.prefix, why, d.buf)
		d.buf = d.buf[:0]
	}
	d.dec.reset()
	return out
}

func appendHexDump(out []byte, prefix, what string, b []byte) []byte {
	const maxDump = 1024
	out = fmt.Appendf(out, "%s%s, %d bytes:\n", prefix, what, len(b))
	if len(b) > maxDump {
		out = append(out, hex.Dump(b[:maxDump])...)
		return fmt.Appendf(out, "... %d more bytes\n", len(b)-maxDump)
	}
	return append(out, hex.Dump(b)...)
}

// requestDecoder prints requests as parsed by the server's own parser.
type requestDecoder struct {
	p   *wire.Parser
	req wire.Request
}

func (d *requestDecoder) reset() { d.p = wire.NewParser(wire.DefaultLimits()) }

func (d *requestDecoder) decode(buf []byte, prefix string, out []byte) (int, []byte, error) {
	n, err := d.p.Parse(buf, &d.req)
	if errors.Is(err, wire.ErrIncomplete) {
		return 0, out, nil
	}
	if err != nil {
		return 0, out, err
	}
	r := &d.req
	out = append(out, prefix...)
	out = append(out, r.Method.String()...)
	out = append(out, ' ')
	out = appendPrintable(out, r.Key)
	switch r.Exclusive {
	case wire.ExclusiveAcquire:
		out = append(out, " Exclusive=acquire"...)
	case wire.ExclusiveRelease:
		out = append(out, " Exclusive=release"...)
	}
	out = appendNum(out, "Timeout", r.Timeout)
	out = appendNum(out, "LockCookie", r.LockCookie)
	out = appendNum(out, "ExtraFlags", r.ExtraFlags)
	if r.Close {
		out = append(out, " Connection=close"...)
	}
	if r.ContentLength >= 0 || len(r.Body) > 0 {
		out = append(out, ' ')
		out = appendBodyPreview(out, r.Body)
	}
	if r.Invalid != "" {
		out = append(out, " invalid="...)
		out = strconv.AppendQuote(out, r.Invalid)
	}
	return n, append(out, '\n'), nil
}

// responseDecoder prints responses as the client-side parser reads them.
type responseDecoder struct {
	resp wire.ClientResponse
}

func (d *responseDecoder) reset() {}

func (d *responseDecoder) decode(buf []byte, prefix string, out []byte) (int, []byte, error) {
	n, err := wire.ParseResponse(buf, &d.resp)
	if errors.Is(err, wire.ErrIncomplete) {
		return 0, out, nil
	}
	if err != nil {
		return 0, out, err
	}
	r := &d.resp
	out = append(out, prefix...)
	out = strconv.AppendInt(out, int64(r.Status), 10)
	out = appendNum(out, "ActionFlags", r.ActionFlags)
	out = appendNum(out, "LockCookie", r.LockCookie)
	out = appendNum(out, "LockAge", r.LockAge)
	if r.HasLockDate {
		out = append(out, " LockDate="...)
		out = append(out, wire.TimeFromTicks(r.LockDate, time.UTC).Format("2006-01-02T15:04:05.000")...)
	}
	out = appendNum(out, "Timeout", r.Timeout)
	if len(r.Body) > 0 {
		out = append(out, ' ')
		out = appendBodyPreview(out, r.Body)
	}
	return n, append(out, '\n'), nil
}

func runTap(ctx context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate tap", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:42425", "address web servers connect to")
	upstream := fs.String("upstream", defaultServer, "state server to relay to")
	dialTimeout := fs.Duration("network-timeout", 10*time.Second, "timeout for connecting to the upstream")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: aspstate tap --listen ADDR --upstream ADDR\n\nRelays every connection unchanged and prints each request (>) and response (<).")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	srv, err := listenTap(tapConfig{Listen: *listen, Upstream: *upstream, DialTimeout: *dialTimeout, Out: s.stdout})
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate tap: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(s.stderr, "aspstate tap: listening on %s, relaying to %s\n", srv.Addr(), *upstream)
	<-ctx.Done()
	srv.Close()
	return exitOK
}
