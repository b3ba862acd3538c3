package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/rawconn"
)

// maxResponseBytes bounds one response held in the client's buffer: the
// largest body the protocol allows (wire.DefaultLimits) plus room for the head.
var maxResponseBytes = int(wire.DefaultLimits().MaxBodyBytes) + 64<<10

// client is one connection to a state server used the way the ASP.NET client
// uses its pooled sockets: one request in flight, then its response. The
// request and read buffers are reused, so a round trip does not allocate once
// the buffers have grown to the traffic's size.
//
// A response's byte slices (Reason, Version, Body) alias the read buffer and
// are valid until the next call to roundTrip. A client is not safe for
// concurrent use.
type client struct {
	conn net.Conn      // deadlines, Close
	io   *rawconn.Conn // reads and writes, as the gateway does them (package rawconn)
	// timeout, when positive, is the deadline set for each round trip (the
	// web server's stateNetworkTimeout). Bench sets one deadline for the whole
	// run instead and leaves it zero.
	timeout time.Duration
	wbuf    []byte
	rbuf    []byte
	r, w    int // rbuf[r:w] holds bytes received but not yet parsed
}

func dialClient(ctx context.Context, addr string, timeout time.Duration) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return &client{conn: conn, io: rawconn.New(conn), timeout: timeout, rbuf: make([]byte, 16<<10)}, nil
}

func (c *client) Close() error { return c.conn.Close() }

// roundTrip sends req and reads one response into resp.
func (c *client) roundTrip(req *wire.ClientRequest, resp *wire.ClientResponse) error {
	c.wbuf = wire.AppendRequest(c.wbuf[:0], req)
	if c.timeout > 0 {
		if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return err
		}
	}
	if _, err := c.io.Write(c.wbuf); err != nil {
		return fmt.Errorf("sending request: %w", err)
	}
	return c.readResponse(resp)
}

func (c *client) readResponse(resp *wire.ClientResponse) error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	for {
		if c.w > c.r {
			n, err := wire.ParseResponse(c.rbuf[c.r:c.w], resp)
			if err == nil {
				c.r += n
				return nil
			}
			if !errors.Is(err, wire.ErrIncomplete) {
				return fmt.Errorf("reading response: %w", err)
			}
		}
		if c.w == len(c.rbuf) {
			if c.r > 0 {
				c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
				c.r = 0
			} else {
				if len(c.rbuf) >= maxResponseBytes {
					return fmt.Errorf("reading response: larger than %d bytes", maxResponseBytes)
				}
				nb := make([]byte, min(2*len(c.rbuf), maxResponseBytes))
				c.w = copy(nb, c.rbuf[c.r:c.w])
				c.rbuf = nb
			}
		}
		n, err := c.io.Read(c.rbuf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			if errors.Is(err, io.EOF) {
				if c.w > c.r {
					return fmt.Errorf("reading response: connection closed after %d bytes of an incomplete response", c.w-c.r)
				}
				return errors.New("reading response: connection closed by the server")
			}
			return fmt.Errorf("reading response: %w", err)
		}
	}
}
