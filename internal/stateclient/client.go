package stateclient

import (
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// Timeout is a web server's deadline for one request (ASP.NET's
// stateNetworkTimeout default).
const Timeout = 10 * time.Second

// Conn is one client's connection to a gateway. A transport error closes it;
// the next request dials Addr again.
type Conn struct {
	Addr string
	nc   net.Conn
	buf  []byte
}

// Dial returns a Conn to addr, connected.
func Dial(addr string) (*Conn, error) {
	c := &Conn{Addr: addr}
	return c, c.connect()
}

func (c *Conn) connect() error {
	if c.nc != nil {
		return nil
	}
	nc, err := net.DialTimeout("tcp", c.Addr, 2*time.Second)
	if err != nil {
		return err
	}
	c.nc, c.buf = nc, c.buf[:0]
	return nil
}

// Connected reports whether the connection is open.
func (c *Conn) Connected() bool { return c.nc != nil }

// Do sends r and reads one response, within Timeout. On a transport error
// (dial, write, read, malformed response) it closes the connection and
// returns the error: the request may or may not have run.
func (c *Conn) Do(r *wire.ClientRequest) (wire.ClientResponse, error) {
	if err := c.connect(); err != nil {
		return wire.ClientResponse{}, err
	}
	if r.Host == "" {
		r.Host = "127.0.0.1:42424"
	}
	c.nc.SetDeadline(time.Now().Add(Timeout))
	resp, err := c.roundTrip(r)
	if err != nil {
		c.Close()
	}
	return resp, err
}

func (c *Conn) roundTrip(r *wire.ClientRequest) (wire.ClientResponse, error) {
	if _, err := c.nc.Write(wire.AppendRequest(nil, r)); err != nil {
		return wire.ClientResponse{}, err
	}
	var resp wire.ClientResponse
	tmp := make([]byte, 64<<10)
	for {
		if len(c.buf) > 0 {
			n, err := wire.ParseResponse(c.buf, &resp)
			if err == nil {
				resp.Body = bytes.Clone(resp.Body)
				c.buf = c.buf[n:]
				return resp, nil
			}
			if !errors.Is(err, wire.ErrIncomplete) {
				return resp, err
			}
		}
		n, err := c.nc.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil && n == 0 {
			return resp, err
		}
	}
}

// Close closes the connection; a later Do dials again.
func (c *Conn) Close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// Num is a present, valid header value.
func Num(v int32) locking.Num { return locking.Num{Value: v, Present: true, Valid: true} }

// Empty is the empty 20-minute session a web server creates
// (docs/protocol.md §7).
var Empty = []byte{0x14, 0, 0, 0, 0, 0, 0xff}

// Target is the request target of session id in the application
// /LM/W3SVC/1/ROOT/Shop.
func Target(id string) string { return wire.ClientTarget("/LM/W3SVC/1/ROOT/Shop", id) }

// Acquire is GetExclusive.
func Acquire(u string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: u, Exclusive: wire.ExclusiveAcquire}
}

// Release releases the lock with cookie.
func Release(u string, cookie int32) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: u, Exclusive: wire.ExclusiveRelease, LockCookie: Num(cookie)}
}

// Get is a read without the lock.
func Get(u string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: u}
}

// Put is the PUT a web server sends at the end of a request: with the cookie
// of its GetExclusive, or without one for a new session (cookie < 0).
func Put(u string, cookie int32, body []byte) *wire.ClientRequest {
	r := &wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: Num(20), Body: body}
	if cookie >= 0 {
		r.LockCookie = Num(cookie)
	}
	return r
}

// Insert is the PUT that creates a new, uninitialized session (ExtraFlags:
// 1, the empty blob), as a web server sends after a GetExclusive's 404.
func Insert(u string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: Num(20), ExtraFlags: Num(1), LockCookie: Num(0), Body: Empty}
}

// Remove deletes the session, with the lock's cookie (cookie < 0: none).
func Remove(u string, cookie int32) *wire.ClientRequest {
	r := &wire.ClientRequest{Method: wire.MethodDelete, Target: u}
	if cookie >= 0 {
		r.LockCookie = Num(cookie)
	}
	return r
}
