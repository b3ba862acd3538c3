package peering_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/aspstate/aspstate/peering"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

func TestMembersHereCountsThisHostsAddresses(t *testing.T) {
	far, err := peeringtest.AddrsElsewhere(2)
	if err != nil {
		t.Fatal(err)
	}
	members := []peering.Member{
		{ID: "a", Addr: "127.0.0.1:42425"},
		{ID: "b", Addr: "[::1]:42425"},
		{ID: "c", Addr: "localhost:42425"},
		{ID: "d", Addr: net.JoinHostPort(far[0], "42425")},
		{ID: "e", Addr: "gw9.invalid:42425"}, // .invalid never resolves
		{ID: "f", Addr: net.JoinHostPort(far[1], "42425")},
		{ID: "g", Addr: "127.0.0.5:42425"},          // all of 127/8 is this host
		{ID: "h", Addr: "[2001:db8::1]:42425"},      // documentation prefix
		{ID: "i", Addr: "no-port-here"},             // not host:port: elsewhere
		{ID: "j", Addr: "127.0.0.1:42426"},          // a second member on this host
		{ID: "k", Addr: "example.invalid.:42425"},   // fully qualified, still invalid
		{ID: "l", Addr: "[::ffff:127.0.0.1]:42425"}, // v4-mapped loopback
	}
	want := 6 // a b c g j l
	// An address of one of this host's interfaces counts like loopback.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				members = append(members, peering.Member{ID: "m", Addr: net.JoinHostPort(ipn.IP.String(), "42425")})
				want++
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got := peering.MembersHere(ctx, members); got != want {
		t.Fatalf("MembersHere = %d, want %d", got, want)
	}
	if got := peering.MembersHere(ctx, members[3:6]); got != 0 {
		t.Fatalf("members elsewhere counted here: %d", got)
	}
}

func TestShareOfCores(t *testing.T) {
	for _, c := range []struct{ procs, here, want int }{
		{2, 0, 2}, {2, 1, 2}, {2, 2, 1}, {2, 3, 1}, {16, 3, 5}, {8, 2, 4}, {1, 3, 1},
	} {
		if got := peering.ShareOfCores(c.procs, c.here); got != c.want {
			t.Errorf("ShareOfCores(%d, %d) = %d, want %d", c.procs, c.here, got, c.want)
		}
	}
}
