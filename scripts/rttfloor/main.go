// Command rttfloor measures the floor under a forwarded request on this
// machine: the round trip of a 1 KiB message over loopback TCP to an echo
// server, with the server in the same process and in another process. A
// gateway forwarding a request to a peer pays at least the second, on top of
// what a local request costs; it has nothing of ours in it (no TLS, no
// framing, no store).
//
//	go run ./scripts/rttfloor [-n 20000] [-size 1024]
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	n := flag.Int("n", 20000, "round trips per measurement")
	size := flag.Int("size", 1024, "message bytes")
	serve := flag.Bool("serve", false, "run as the echo server (internal)")
	flag.Parse()
	if *serve {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		fmt.Println(ln.Addr())
		echo(ln, *size)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go echo(ln, *size)
	report("same process", ln.Addr().String(), *n, *size)

	cmd := exec.Command(os.Args[0], "-serve", "-size", fmt.Sprint(*size))
	out, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	defer cmd.Process.Kill()
	var addr string
	_, err = fmt.Fscanln(out, &addr)
	check(err)
	report("another process", addr, *n, *size)
}

// echo answers each message of size bytes with the same bytes.
func echo(ln net.Listener, size int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

func report(label, addr string, n, size int) {
	c, err := net.Dial("tcp", addr)
	check(err)
	defer c.Close()
	buf := make([]byte, size)
	rtts := make([]time.Duration, 0, n)
	for i := 0; i < n+n/10; i++ {
		start := time.Now()
		_, err := c.Write(buf)
		check(err)
		_, err = io.ReadFull(c, buf)
		check(err)
		if i >= n/10 { // the first tenth warms up
			rtts = append(rtts, time.Since(start))
		}
	}
	slices.Sort(rtts)
	q := func(p float64) float64 { return float64(rtts[int(p*float64(len(rtts)-1))].Microseconds()) / 1000 }
	fmt.Printf("%-16s %d round trips of %d bytes: p50 %.3f ms, p99 %.3f ms\n", label, len(rtts), size, q(0.5), q(0.99))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
