package main

import (
	"bytes"
	"errors"
	"github.com/aspstate/aspstate/internal/testlog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/frontend/wire"
)

// syncBuffer is a log destination the code under test writes from its own goroutines.
type syncBuffer = testlog.Buffer

// serveRequests reads requests from c with wire's parser and writes what
// handle returns (nil: close the connection). raw, when not nil, receives
// every byte read.
func serveRequests(c net.Conn, raw func([]byte), handle func(req *wire.Request, reqBytes []byte) []byte) {
	defer c.Close()
	p := wire.NewParser(wire.DefaultLimits())
	var req wire.Request
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		for len(buf) > 0 {
			n, err := p.Parse(buf, &req)
			if errors.Is(err, wire.ErrIncomplete) {
				break
			}
			if err != nil {
				return
			}
			out := handle(&req, buf[:n])
			if out == nil {
				return
			}
			if _, err := c.Write(out); err != nil {
				return
			}
			buf = buf[:copy(buf, buf[n:])]
		}
		n, err := c.Read(chunk)
		if n > 0 {
			if raw != nil {
				raw(chunk[:n])
			}
			buf = append(buf, chunk[:n]...)
		}
		if err != nil {
			return
		}
	}
}

// testServer accepts connections on 127.0.0.1:0 and serves each on its own
// goroutine until the test ends.
type testServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func startServer(t *testing.T, serve func(net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() { defer s.wg.Done(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

// scripted answers every request with response and sends a copy of each
// request's bytes on the returned channel.
func scripted(t *testing.T, response string) (addr string, requests <-chan []byte) {
	ch := make(chan []byte, 16)
	s := startServer(t, func(c net.Conn) {
		serveRequests(c, nil, func(_ *wire.Request, b []byte) []byte {
			select {
			case ch <- bytes.Clone(b):
			default:
			}
			return []byte(response)
		})
	})
	return s.addr(), ch
}

// fakeState is a minimal in-memory state server with the lock rules that
// bench's scenarios rely on. When dropEvery > 0, every dropEvery-th Set is
// acknowledged (and unlocks) without storing the data: a lost write that
// contend must detect.
type fakeState struct {
	dropEvery int

	mu    sync.Mutex // guards items and sets
	items map[string]*fakeItem
	sets  int
}

type fakeItem struct {
	data     []byte
	locked   bool
	cookie   int32
	lockedAt time.Time
}

func startFakeState(t *testing.T, dropEvery int) string {
	f := &fakeState{dropEvery: dropEvery, items: make(map[string]*fakeItem)}
	s := startServer(t, func(c net.Conn) {
		var out []byte
		serveRequests(c, nil, func(req *wire.Request, _ []byte) []byte {
			r := f.handle(req)
			out = wire.AppendResponse(out[:0], "4.0.30319", &r)
			return out
		})
	})
	return s.addr()
}

func (f *fakeState) handle(req *wire.Request) wire.Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := string(req.Key)
	it := f.items[key]
	locked := func() wire.Response {
		return wire.Response{Status: 423, LockCookie: it.cookie, HasLockCookie: true,
			LockDateTicks: wire.TicksFromTime(it.lockedAt), LockAgeSeconds: int64(time.Since(it.lockedAt) / time.Second)}
	}
	switch req.Method {
	case wire.MethodGet:
		if it == nil {
			return wire.Response{Status: 404}
		}
		switch req.Exclusive {
		case wire.ExclusiveAcquire:
			if it.locked {
				return locked()
			}
			it.locked, it.lockedAt = true, time.Now()
			it.cookie++
			return wire.Response{Status: 200, LockCookie: it.cookie, HasLockCookie: true, Timeout: 20, HasTimeout: true, Body: it.data}
		case wire.ExclusiveRelease:
			if it.locked && it.cookie != req.LockCookie.Value {
				return locked()
			}
			it.locked = false
			return wire.Response{Status: 200}
		}
		if it.locked {
			return locked()
		}
		return wire.Response{Status: 200, Timeout: 20, HasTimeout: true, Body: it.data}
	case wire.MethodPut:
		if it == nil {
			f.items[key] = &fakeItem{data: bytes.Clone(req.Body), cookie: 1}
			return wire.Response{Status: 200}
		}
		if it.locked && (!req.LockCookie.Present || req.LockCookie.Value != it.cookie) {
			return locked()
		}
		f.sets++
		it.locked = false
		if f.dropEvery > 0 && f.sets%f.dropEvery == 0 {
			return wire.Response{Status: 200}
		}
		it.data = bytes.Clone(req.Body)
		return wire.Response{Status: 200}
	}
	return wire.Response{Status: 400}
}
