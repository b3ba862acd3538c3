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

	"github.com/redis/go-redis/v9"
)

// pipeConns sends the batcher's pipelines to a standalone Redis over its own
// few connections, speaking RESP2 directly. go-redis stays in charge of
// everything else (Sentinel, Cluster, the probe, large values); this path
// exists because per-command costs dominate a session read, and here a
// pipeline costs one write, one read and one small allocation per reply
// instead of a command object, boxed arguments and a reply tree per command.
// It keeps at most maxFlushers idle connections: one per flusher.
type pipeConns struct {
	addr   string
	tls    *tls.Config // nil for plain TCP
	hello  []byte      // AUTH, SELECT and CLIENT SETNAME, sent on each new connection
	nHello int         // replies hello asks for
	dial   time.Duration

	mu     sync.Mutex // guards idle, closed
	idle   []*pipeConn
	closed bool
	open   atomic.Int32 // connections open, idle or busy (for tests)
}

type pipeConn struct {
	nc   net.Conn
	br   *bufio.Reader
	wbuf []byte
	used bool // has served a batch: a failure may mean it went stale
}

func newPipeConns(cfg *Config, tc *tls.Config) *pipeConns {
	p := &pipeConns{addr: cfg.Addrs[0], tls: tc, dial: cfg.DialTimeout}
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
// under it), the batch is sent once more on a new one. Sending twice is
// safe: reads are repeatable, and a resent CAS finds its own write id.
func (p *pipeConns) exec(ctx context.Context, calls []*call) {
	for attempt := 0; ; attempt++ {
		pc, err := p.get(ctx)
		if err == nil {
			err = pc.roundTrip(ctx, calls)
			if err == nil {
				p.put(pc)
				return
			}
			p.discard(pc)
			if pc.used && attempt == 0 && ctx.Err() == nil {
				continue
			}
		}
		for _, c := range calls {
			c.fail(err)
		}
		return
	}
}

func (p *pipeConns) get(ctx context.Context) (*pipeConn, error) {
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
	return p.connect(ctx)
}

func (p *pipeConns) put(pc *pipeConn) {
	pc.used = true
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxFlushers {
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
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		p.discard(pc)
	}
}

func (p *pipeConns) connect(ctx context.Context) (*pipeConn, error) {
	dctx, cancel := context.WithTimeout(ctx, p.dial)
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
	pc := &pipeConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
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
func (pc *pipeConn) roundTrip(ctx context.Context, calls []*call) error {
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
				b = appendCommand(b, "getex", c.key, "pxat", strconv.FormatInt(c.slide, 10))
			}
		}
		b = appendCommand(b, "exec")
	}
	if cap(b) <= 256<<10 {
		pc.wbuf = b // keep the buffer unless a huge batch grew it
	}
	dl, _ := ctx.Deadline()
	if err := pc.nc.SetDeadline(dl); err != nil {
		return err
	}
	if _, err := pc.nc.Write(b); err != nil {
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
		v, err := readReply(pc.br)
		if err != nil {
			return err
		}
		if e, ok := v.(replyError); ok && queueErr == nil {
			queueErr = e
		}
	}
	v, err := readReply(pc.br)
	if err != nil {
		return err
	}
	replies, ok := v.([]any)
	if e, isErr := v.(replyError); isErr {
		err = e
	} else if !ok {
		err = fmt.Errorf("redisstore: EXEC returned %T (queueing: %v)", v, queueErr)
	}
	deliverReads(calls, replies, err)
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

// readReply reads one RESP2 reply: string, replyError, int64, nil or []any.
func readReply(br *bufio.Reader) (any, error) {
	return readReplyAt(br, 0)
}

func readReplyAt(br *bufio.Reader, depth int) (any, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return string(body), nil
	case '-':
		return replyError(body), nil
	case ':':
		return parseInt(body)
	case '$':
		n, err := parseInt(body)
		if err != nil || n < 0 {
			return nil, err // $-1: nil
		}
		if n > maxBulkLen {
			return nil, errProtocol
		}
		return readBulk(br, int(n))
	case '*':
		n, err := parseInt(body)
		if err != nil || n < 0 {
			return nil, err // *-1: nil
		}
		if n > maxArrayLen || depth >= maxReplyDepth {
			return nil, errProtocol
		}
		vals := make([]any, 0, min(n, arrayPrealloc))
		for range n {
			v, err := readReplyAt(br, depth+1)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
		return vals, nil
	}
	return nil, errProtocol
}

// readBulk reads n bytes and the CRLF after them.
func readBulk(br *bufio.Reader, n int) (any, error) {
	buf := make([]byte, min(n+2, bulkChunk))
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	for len(buf) < n+2 {
		more := min(n+2-len(buf), len(buf)) // at most doubles: memory follows the bytes received
		buf = slices.Grow(buf, more)[:len(buf)+more]
		if _, err := io.ReadFull(br, buf[len(buf)-more:]); err != nil {
			return nil, err
		}
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return nil, errProtocol
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

func appendBulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}
