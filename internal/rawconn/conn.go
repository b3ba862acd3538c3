package rawconn

import (
	"net"
)

// Conn wraps a net.Conn; see the package doc.
type Conn struct {
	nc  net.Conn
	raw *raw // nil: every call goes through nc

	writing net.Buffers // a copy of Writev's argument, for net.Buffers.WriteTo to consume
	peeker  peeker      // PeerClosed without the raw path
}

// New wraps nc. The caller keeps nc for everything else (deadlines, Close,
// addresses).
func New(nc net.Conn) *Conn {
	return &Conn{nc: nc, raw: newRaw(nc)}
}

// Raw tells whether c uses raw system calls (a TCP connection on Linux).
func (c *Conn) Raw() bool { return c.raw != nil }

// Read reads into p as net.Conn.Read does: at least one byte, io.EOF when
// the peer has closed, or an error.
func (c *Conn) Read(p []byte) (int, error) {
	if c.raw != nil {
		return c.raw.read(p)
	}
	return c.nc.Read(p)
}

// Write writes all of p, or returns an error.
func (c *Conn) Write(p []byte) (int, error) {
	if c.raw != nil {
		return c.raw.write(p)
	}
	return c.nc.Write(p)
}

// Writev writes the buffers, in order, with as few system calls as the
// socket's buffer allows (one writev each), or returns an error. It does
// not change bufs.
func (c *Conn) Writev(bufs [][]byte) (int64, error) {
	if c.raw != nil {
		n, err := c.raw.writev(bufs)
		return int64(n), err
	}
	// WriteTo consumes its receiver and the slices in it: give it copies.
	c.writing = append(c.writing[:0], bufs...)
	n, err := c.writing.WriteTo(c.nc)
	clear(c.writing[:cap(c.writing)])
	return n, err
}

// PeerClosed tells whether the peer is known to have closed or reset the
// connection, without consuming data: a non-blocking peek that reads 0
// bytes means EOF. False when it cannot tell (no data yet, or a platform
// without a peek).
func (c *Conn) PeerClosed() bool {
	if c.raw != nil {
		return c.raw.peerClosed()
	}
	return c.peeker.peerClosed(c.nc)
}

// AsNetConn returns nc with its Read and Write done as Conn does them (raw
// system calls on Linux) and everything else (deadlines, Close, addresses)
// left to nc: for a layer that takes a net.Conn, such as crypto/tls on a
// peer link. Where there is no raw path it returns nc itself.
func AsNetConn(nc net.Conn) net.Conn {
	c := New(nc)
	if !c.Raw() {
		return nc
	}
	return netConn{nc, c}
}

type netConn struct {
	net.Conn
	io *Conn
}

func (c netConn) Read(p []byte) (int, error)  { return c.io.Read(p) }
func (c netConn) Write(p []byte) (int, error) { return c.io.Write(p) }
