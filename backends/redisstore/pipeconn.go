package redisstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/aspstate/aspstate/internal/rawconn"
	"github.com/redis/go-redis/v9"
)

// pipeConns sends the batcher's pipelines to a standalone Redis over its own
// few connections, speaking RESP2 directly. go-redis stays in charge of
// everything else (Sentinel, Cluster, the probe, large values); this path
// exists because per-command costs dominate a session read, and here a
// pipeline costs one write, one read and, for a session read, one
// allocation (the value's bytes, which become the record's Data) instead of
// a command object, boxed arguments and a reply tree per command.
// It keeps at most Config.Pipelines idle connections: one per flusher. A
// plain TCP connection is read and written through package rawconn, so that
// the flushers' I/O does not wake the scheduler's monitor thread.
type pipeConns struct {
	addr    string
	tls     *tls.Config // nil for plain TCP
	hello   []byte      // AUTH, SELECT and CLIENT SETNAME, sent on each new connection
	nHello  int         // replies hello asks for
	dial    time.Duration
	maxIdle int // Config.Pipelines

	mu     sync.Mutex // guards idle, closed
	idle   []*pipeConn
	closed bool
	open   atomic.Int32 // connections open, idle or busy (for tests)
}

type pipeConn struct {
	nc   net.Conn      // deadlines, Close
	io   *rawconn.Conn // writes and, through br, reads (see package rawconn)
	br   *bufio.Reader
	wbuf []byte
	used bool // has served a batch: a failure may mean it went stale
}

func newPipeConns(cfg *Config, tc *tls.Config) *pipeConns {
	p := &pipeConns{addr: cfg.Addrs[0], tls: tc, dial: cfg.DialTimeout, maxIdle: cfg.Pipelines}
	if cfg.Password != "" {
		if cfg.Username != "" {
			p.hello = appendCommand(p.hello, "auth", cfg.Username, cfg.Password)
		} else {
			p.hello = appendCommand(p.hello, "auth", cfg.Password)
		}
		p.nHello++
	}
	if cfg.DB != 0 {
		p.hello = appendCommand(p.hello, "select", strconv.Itoa(cfg.DB))
		p.nHello++
	}
	p.hello = appendCommand(p.hello, "client", "setname", "aspstated")
	p.nHello++
	if p.tls != nil && p.tls.ServerName == "" {
		p.tls = p.tls.Clone()
		p.tls.ServerName, _, _ = net.SplitHostPort(p.addr)
	}
	return p
}

// exec sends calls as one pipeline (scripts, then the reads in one
// MULTI/EXEC block) and fills in each call's reply or error. A connection
// that fails is closed; if it had served batches before (Redis restarted
// under it), the idle connections are closed too, as they are most likely
// just as stale, and the batch is sent once more on a new one. Sending twice
// is safe: reads are repeatable, and a resent CAS finds its own write id.
func (p *pipeConns) exec(deadline time.Time, calls []*call) {
	for attempt := 0; ; attempt++ {
		pc, err := p.get(deadline)
		if err == nil {
			err = pc.roundTrip(deadline, calls)
			if err == nil {
				p.put(pc)
				return
			}
			p.discard(pc)
			if pc.used && attempt == 0 && time.Now().Before(deadline) {
				p.dropIdle()
				continue
			}
		}
		for _, c := range calls {
			c.fail(err)
		}
		return
	}
}

func (p *pipeConns) get(deadline time.Time) (*pipeConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, redis.ErrClosed
	}
	if n := len(p.idle); n > 0 {
		pc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return pc, nil
	}
	p.mu.Unlock()
	return p.connect(deadline)
}

func (p *pipeConns) put(pc *pipeConn) {
	pc.used = true
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, pc)
		pc = nil
	}
	p.mu.Unlock()
	if pc != nil {
		p.discard(pc)
	}
}

func (p *pipeConns) discard(pc *pipeConn) {
	_ = pc.nc.Close()
	p.open.Add(-1)
}

// close closes the idle connections; busy ones are closed when returned.
func (p *pipeConns) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.dropIdle()
}

// dropIdle closes the idle connections.
func (p *pipeConns) dropIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		p.discard(pc)
	}
}

func (p *pipeConns) connect(deadline time.Time) (*pipeConn, error) {
	if d := time.Now().Add(p.dial); d.Before(deadline) {
		deadline = d
	}
	dctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	pc := &pipeConn{nc: nc, io: rawconn.New(nc)}
	pc.br = bufio.NewReaderSize(pc.io, 64<<10)
	p.open.Add(1)
	dl, _ := dctx.Deadline()
	_ = nc.SetDeadline(dl)
	if _, err := nc.Write(p.hello); err != nil {
		p.discard(pc)
		return nil, err
	}
	for range p.nHello {
		v, err := readReply(pc.br)
		if err == nil {
			if e, ok := v.(replyError); ok {
				err = fmt.Errorf("redisstore: connection setup: %w", e)
			}
		}
		if err != nil {
			p.discard(pc)
			return nil, err
		}
	}
	return pc, nil
}

// roundTrip writes calls and reads every reply. An error means the
// connection is unusable (network, deadline or protocol); Redis's error
// replies are the calls' own.
func (pc *pipeConn) roundTrip(deadline time.Time, calls []*call) error {
	b := pc.wbuf[:0]
	reads := 0
	for _, c := range calls {
		if c.cmd != nil {
			b = appendCommandArgs(b, c.cmd.Args())
		} else {
			reads++
		}
	}
	if reads > 0 {
		b = appendCommand(b, "multi")
		for _, c := range calls {
			if c.cmd == nil {
				b = appendCommand(b, "pexpiretime", c.key)
				b = appendGetex(b, c.key, c.slide)
			}
		}
		b = appendCommand(b, "exec")
	}
	if cap(b) <= 256<<10 {
		pc.wbuf = b // keep the buffer unless a huge batch grew it
	}
	if err := pc.nc.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := pc.io.Write(b); err != nil {
		return err
	}
	for _, c := range calls {
		if c.cmd == nil {
			continue
		}
		v, err := readReply(pc.br)
		if err != nil {
			return err
		}
		setCmd(c.cmd, v)
	}
	if reads == 0 {
		return nil
	}
	// +OK for MULTI, then +QUEUED (or an error, such as OOM, which makes
	// EXEC fail) for each queued command.
	var queueErr error
	for range 1 + 2*reads {
		r, err := readTyped(pc.br, 0)
		if err != nil {
			return err
		}
		if r.kind == '-' && queueErr == nil {
			queueErr = replyError(r.str)
		}
	}
	return pc.readExec(calls, reads, queueErr)
}

// readExec reads EXEC's reply straight into the reads: an array of two
// replies per read (PEXPIRETIME's, GETEX's). An error reply (EXECABORT)
// or anything else fails every read of the batch.
func (pc *pipeConn) readExec(calls []*call, reads int, queueErr error) error {
	kind, body, err := readLine(pc.br)
	if err != nil {
		return err
	}
	if kind == '*' {
		if n, err := parseInt(body); err == nil && n == int64(2*reads) {
			for _, c := range calls {
				if c.cmd != nil {
					continue
				}
				exp, err := readTyped(pc.br, 1)
				if err != nil {
					return err
				}
				val, err := readTyped(pc.br, 1)
				if err != nil {
					return err
				}
				c.setRead(exp, val)
			}
			return nil
		}
	}
	r, err := readBody(pc.br, kind, body, 0)
	if err != nil {
		return err
	}
	switch r.kind {
	case '-':
		err = replyError(r.str)
	case '*':
		err = fmt.Errorf("redisstore: EXEC returned %d replies for %d reads (queueing: %v)", len(r.arr), reads, queueErr)
	default:
		err = fmt.Errorf("redisstore: EXEC returned %v for %d reads (queueing: %v)", r.value(), reads, queueErr)
	}
	deliverReads(calls, nil, err)
	return nil
}

// setCmd stores reply v in cmd as go-redis would have: nil as redis.Nil, an
// error reply as the command's error.
func setCmd(cmd *redis.Cmd, v any) {
	switch v := v.(type) {
	case nil:
		cmd.SetErr(redis.Nil)
	case replyError:
		cmd.SetErr(v)
	default:
		cmd.SetVal(v)
	}
}

// replyError is an error reply from Redis. It is a redis.Error, so that
// callers tell it from a network failure just as with go-redis's own.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

// errProtocol: the byte stream is not RESP2 as expected.
var errProtocol = errors.New("redisstore: malformed reply from redis")

// Bounds on what a reply may claim. The store's replies are at most two
// arrays deep, and a bulk string cannot exceed Redis's proto-max-bulk-len
// (512 MiB by default). A header is never trusted for an allocation: a
// stream that claims more than it delivers costs only what it delivered.
const (
	maxReplyDepth = 4
	maxBulkLen    = 512 << 20
	maxArrayLen   = 1 << 20
	bulkChunk     = 1 << 20 // preallocated at most; longer bulks grow as bytes arrive
	arrayPrealloc = 16
)

// reply is one RESP2 reply, unboxed: the hot path reads two per session
// read and several per batch, and boxing each into an interface would cost
// an allocation apiece.
type reply struct {
	kind byte   // '+', '-', ':', '$', '*', or 0 for nil ($-1, *-1)
	str  string // '+', '-', '$'
	num  int64  // ':'
	arr  []any  // '*', its elements as readReply returns them
}

// value boxes r as readReply returns it.
func (r reply) value() any {
	switch r.kind {
	case '+', '$':
		return r.str
	case '-':
		return replyError(r.str)
	case ':':
		return r.num
	case '*':
		return r.arr
	}
	return nil
}

// replyOf unboxes a reply that go-redis decoded.
func replyOf(v any) reply {
	switch v := v.(type) {
	case string:
		return reply{kind: '$', str: v}
	case int64:
		return reply{kind: ':', num: v}
	case []any:
		return reply{kind: '*', arr: v}
	case error:
		return reply{kind: '-', str: v.Error()}
	case nil:
		return reply{}
	}
	return reply{kind: '?'}
}

// readReply reads one RESP2 reply: string, replyError, int64, nil or []any.
func readReply(br *bufio.Reader) (any, error) {
	r, err := readTyped(br, 0)
	return r.value(), err
}

// readTyped reads one reply at nesting depth.
func readTyped(br *bufio.Reader, depth int) (reply, error) {
	kind, body, err := readLine(br)
	if err != nil {
		return reply{}, err
	}
	return readBody(br, kind, body, depth)
}

// readLine reads a reply's first line: its type byte and the rest before
// CRLF. body is valid until the next read from br.
func readLine(br *bufio.Reader) (kind byte, body []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, nil, errProtocol
	}
	return line[0], line[1 : len(line)-2], nil
}

// readBody reads the rest of a reply whose first line readLine returned.
func readBody(br *bufio.Reader, kind byte, body []byte, depth int) (reply, error) {
	switch kind {
	case '+':
		// The replies a pipeline gets by the hundred, without allocating.
		switch string(body) {
		case "QUEUED":
			return reply{kind: '+', str: "QUEUED"}, nil
		case "OK":
			return reply{kind: '+', str: "OK"}, nil
		}
		return reply{kind: '+', str: string(body)}, nil
	case '-':
		return reply{kind: '-', str: string(body)}, nil
	case ':':
		n, err := parseInt(body)
		return reply{kind: ':', num: n}, err
	case '$':
		n, err := parseInt(body)
		if err != nil || n < 0 {
			return reply{}, err // $-1: nil
		}
		if n > maxBulkLen {
			return reply{}, errProtocol
		}
		str, err := readBulk(br, int(n))
		return reply{kind: '$', str: str}, err
	case '*':
		n, err := parseInt(body)
		if err != nil || n < 0 {
			return reply{}, err // *-1: nil
		}
		if n > maxArrayLen || depth >= maxReplyDepth {
			return reply{}, errProtocol
		}
		vals := make([]any, 0, min(n, arrayPrealloc))
		for range n {
			r, err := readTyped(br, depth+1)
			if err != nil {
				return reply{}, err
			}
			vals = append(vals, r.value())
		}
		return reply{kind: '*', arr: vals}, nil
	}
	return reply{}, errProtocol
}

// readBulk reads n bytes and the CRLF after them. The string's memory is
// its own, never written again: decodeValue may hand it out as a record's
// Data without a copy.
func readBulk(br *bufio.Reader, n int) (string, error) {
	buf := make([]byte, min(n+2, bulkChunk))
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", err
	}
	for len(buf) < n+2 {
		more := min(n+2-len(buf), len(buf)) // at most doubles: memory follows the bytes received
		buf = slices.Grow(buf, more)[:len(buf)+more]
		if _, err := io.ReadFull(br, buf[len(buf)-more:]); err != nil {
			return "", err
		}
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return "", errProtocol
	}
	if n == 0 {
		return "", nil
	}
	// buf is ours alone and never written again.
	return unsafe.String(&buf[0], n), nil
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
	if err != nil {
		return 0, errProtocol
	}
	return n, nil
}

// appendCommand appends a command of string arguments in RESP.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

// appendCommandArgs appends a go-redis command's arguments in RESP; the
// store's scripts use strings, integers and byte slices only.
func appendCommandArgs(b []byte, args []any) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		switch a := a.(type) {
		case string:
			b = appendBulk(b, a)
		case []byte:
			b = appendBulk(b, unsafe.String(unsafe.SliceData(a), len(a)))
		case int:
			b = appendBulk(b, strconv.Itoa(a))
		case int64:
			b = appendBulk(b, strconv.FormatInt(a, 10))
		default:
			b = appendBulk(b, fmt.Sprint(a))
		}
	}
	return b
}

// appendGetex appends GETEX key PXAT at, without allocating: the number is
// formatted on the stack.
func appendGetex(b []byte, key string, at int64) []byte {
	var num [20]byte
	return appendCommand(b, "getex", key, "pxat", string(strconv.AppendInt(num[:0], at, 10)))
}

func appendBulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}
