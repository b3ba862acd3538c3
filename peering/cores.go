package peering

import (
	"context"
	"net"
)

// Members listening on this host share its cores. Each Go runtime sizes
// itself (GOMAXPROCS) to every core of the host, or to its container's CPU
// limit; three gateways on one host that each size themselves to all of it
// run more threads than there are cores, and each runtime's idle threads
// spin looking for work and hand woken goroutines between threads. On a
// 2-core machine, three gateways at one core each served more requests
// and answered a forwarded request 0.03 to 0.05 ms sooner (BENCHMARKS.md,
// "Gateways sharing a host").

// MembersHere counts the members whose address is on this host: a loopback
// address or one of this host's interface addresses, after resolving names
// (within ctx; a name that does not resolve counts as elsewhere). Members
// in other containers or pods have addresses of their own and count as
// elsewhere, which is right: their CPU limits are their own.
func MembersHere(ctx context.Context, members []Member) int {
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				local[ipn.IP.String()] = true
			}
		}
	}
	n := 0
	for _, m := range members {
		host, _, err := net.SplitHostPort(m.Addr)
		if err != nil {
			continue
		}
		var ips []net.IP
		if ip := net.ParseIP(host); ip != nil {
			ips = []net.IP{ip}
		} else if found, err := net.DefaultResolver.LookupIP(ctx, "ip", host); err == nil {
			ips = found
		}
		for _, ip := range ips {
			if ip.IsLoopback() || local[ip.String()] {
				n++
				break
			}
		}
	}
	return n
}

// ShareOfCores is this gateway's part of procs processors when here
// members of its farm run on the host: procs divided among them, at least
// one. With one member here (or none found) it is procs.
func ShareOfCores(procs, here int) int {
	if here <= 1 {
		return procs
	}
	return max(1, procs/here)
}
