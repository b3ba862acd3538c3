//go:build !(linux && (amd64 || arm64))

package rawconn

import (
	"errors"
	"net"
)

// raw is not available here: every Conn goes through its net.Conn.
type raw struct{}

func newRaw(net.Conn) *raw { return nil }

var errNoRaw = errors.New("rawconn: no raw path on this platform")

func (*raw) read([]byte) (int, error)     { return 0, errNoRaw }
func (*raw) write([]byte) (int, error)    { return 0, errNoRaw }
func (*raw) writev([][]byte) (int, error) { return 0, errNoRaw }
func (*raw) peerClosed() bool             { return false }
