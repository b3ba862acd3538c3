package redisstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

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
	maxIdle int // Config.Pipelines, + 1 for reads of large sessions

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
	p := &pipeConns{addr: cfg.Addrs[0], tls: tc, dial: cfg.DialTimeout, maxIdle: cfg.Pipelines + 1} // + 1 for reads of large sessions (bigreads.go)
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
