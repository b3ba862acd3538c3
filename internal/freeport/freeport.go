// Package freeport hands tests loopback ports for processes they start
// (gateways, redis-server), which must be told a port before they listen.
//
// A port is found by listening on port 0 and closing the listener, so the
// kernel may offer the same port again on the next call: two gateways of
// one test were once given the same admin port that way. This package
// never hands out a port twice in one process.
package freeport

import (
	"fmt"
	"net"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a loopback TCP port nobody listened on just now and that this
// process has not been given before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("freeport: no new port in 100 tries")
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}
