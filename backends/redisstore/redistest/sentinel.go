package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// StartSentinel starts a Sentinel (redis-server --sentinel) on a free port
// that monitors master under name, with quorum 1, and waits until it reports
// the master's address.
func StartSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 2000\n", name, master.Port(), name)
	s := startConf(t, conf, func() ([]string, error) { return nil, nil })
	c := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		addr, err := c.Do(ctx, "sentinel", "get-master-addr-by-name", name).StringSlice()
		if err == nil && len(addr) == 2 && addr[1] == fmt.Sprint(master.Port()) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: sentinel does not report master %s: %v %v", name, addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
