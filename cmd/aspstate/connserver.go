package main

import (
	"errors"
	"net"
	"sync"
	"time"
)

// connServer is the accept side shared by the ceiling and the tap: it runs
// handle for each accepted connection in a goroutine of its own, and Close
// stops accepting, closes every tracked connection and waits for every
// goroutine started through wg.
type connServer struct {
	ln net.Listener
	wg sync.WaitGroup // the accept loop, each handler, and what handlers start

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool
}

// start begins accepting on ln.
func (s *connServer) start(ln net.Listener, handle func(net.Conn)) {
	s.ln = ln
	s.conns = make(map[net.Conn]struct{})
	s.wg.Add(1)
	go s.acceptLoop(handle)
}

func (s *connServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for the goroutines.
func (s *connServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// track registers c to be closed by Close; false when the server is closed.
func (s *connServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connServer) acceptLoop(handle func(net.Conn)) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		// Track and count the handler under one lock, so Close either sees
		// it in wg or this loop sees closed.
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			defer c.Close()
			handle(c)
		}()
	}
}
