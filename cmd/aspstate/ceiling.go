package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/internal/rawconn"
	"github.com/aspstate/aspstate/locking"
)

// ceilingBodyBytes is the size of the ceiling server's fixed response body.
const ceilingBodyBytes = 1024

// ceilingServer answers every request with the same 200 carrying a 1 KiB body,
// built once. It does nothing a state server must do beyond framing requests,
// so benchmarking it measures the machine, the kernel's loopback and the Go
// runtime: the most a Go state server could do here.
type ceilingServer struct {
	connServer
	resp []byte
}

func listenCeiling(addr string) (*ceilingServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	body := benchPayload(ceilingBodyBytes)
	resp := wire.AppendResponse(nil, wire.DefaultVersion, &wire.Response{
		Status: 200, Timeout: locking.DefaultTimeout, HasTimeout: true, Body: body,
	})
	s := &ceilingServer{resp: resp}
	s.start(ln, s.serve)
	return s, nil
}

// serve reads requests with wire's parser and answers each with the fixed
// response. All the answers to the requests found in one read go out in one
// write. The socket is read and written through rawconn, as the gateway's
// connections are, so that the ceiling stays the most the gateway could do.
func (s *ceilingServer) serve(nc net.Conn) {
	c := rawconn.New(nc)
	limits := wire.DefaultLimits()
	maxBuf := int(limits.MaxBodyBytes) + limits.MaxLineBytes*(limits.MaxHeaderLines+1)
	p := wire.NewParser(limits)
	var req wire.Request
	buf := make([]byte, 16<<10)
	out := make([]byte, 0, 16<<10)
	r, w := 0, 0
	for {
		for r < w {
			n, err := p.Parse(buf[r:w], &req)
			if errors.Is(err, wire.ErrIncomplete) {
				break
			}
			if err != nil {
				c.Write(out)
				return
			}
			r += n
			out = append(out, s.resp...)
			if req.Close {
				c.Write(out)
				return
			}
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
		if r == w {
			r, w = 0, 0
		} else if need := max(p.Need(), w-r+1); r+need > len(buf) {
			// Make room for the pending request: move it to the front, and
			// grow once to the size its head announced.
			if need > len(buf) {
				if need > maxBuf {
					return
				}
				nb := make([]byte, max(need, min(2*len(buf), maxBuf)))
				w = copy(nb, buf[r:w])
				buf = nb
			} else {
				w = copy(buf, buf[r:w])
			}
			r = 0
		}
		n, err := c.Read(buf[w:])
		w += n
		if err != nil && n == 0 {
			return
		}
	}
}

func runCeiling(ctx context.Context, args []string, s streams) int {
	fs := pflag.NewFlagSet("aspstate ceiling", pflag.ContinueOnError)
	// No default: a ceiling started on the production port while the real
	// server is down would answer web servers with a fixed, empty-looking
	// session.
	listen := fs.String("listen", "", "address to listen on (required; e.g. 127.0.0.1:0 or 127.0.0.1:42500)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: aspstate ceiling --listen ADDR\n\nAnswers every request with a fixed 1 KiB 200: run bench against it to see what a Go server can do on this machine.\nThere is no default address, so that it never takes a state server's port by accident.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, s); done {
		return code
	}
	if *listen == "" || fs.NArg() > 0 {
		fmt.Fprintln(s.stderr, "aspstate ceiling: --listen ADDR is required (there is no default, so that the ceiling never takes a state server's port)")
		return exitUsage
	}
	srv, err := listenCeiling(*listen)
	if err != nil {
		fmt.Fprintf(s.stderr, "aspstate ceiling: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(s.stderr, "aspstate ceiling: listening on %s\n", srv.Addr())
	<-ctx.Done()
	srv.Close()
	return exitOK
}
