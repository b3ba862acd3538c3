//go:build !unix

package frontend

import "net"

// peerWatch cannot peek portably here; the lock is taken, as the reference
// server always does.
type peerWatch struct{}

func newPeerWatch(net.Conn) *peerWatch { return &peerWatch{} }

func (*peerWatch) peerClosed() bool { return false }
