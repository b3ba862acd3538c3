package peeringtest

import (
	"fmt"
	"net"
)

// AddrsElsewhere returns n addresses from the documentation ranges
// (RFC 5737) that are on none of this host's interfaces, for members that
// must count as on another host (some virtual machines use these ranges).
func AddrsElsewhere(n int) ([]string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	local := map[string]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			local[ipn.IP.String()] = true
		}
	}
	var out []string
	for _, prefix := range []string{"203.0.113.", "198.51.100.", "192.0.2."} {
		for i := 1; i < 255 && len(out) < n; i += 37 {
			if ip := fmt.Sprintf("%s%d", prefix, i); !local[ip] {
				out = append(out, ip)
			}
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d documentation addresses are not on this host", len(out))
	}
	return out, nil
}
