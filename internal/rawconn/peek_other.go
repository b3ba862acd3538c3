//go:build !unix && !windows

package rawconn

import "net"

// peeker cannot peek portably here: PeerClosed always says false.
type peeker struct{}

func (*peeker) peerClosed(net.Conn) bool { return false }
