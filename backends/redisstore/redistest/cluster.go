package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots in a Redis Cluster.
const clusterSlots = 16384

// StartCluster starts n redis-server processes in cluster mode (n >= 1),
// spreads the hash slots over them, joins them and waits until every node
// reports cluster_state:ok. There are no replicas. Each node is a Server:
// Stop, Restart and Pause work per node, and a restarted node rejoins with
// its node id (nodes.conf survives in its directory).
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("redistest: StartCluster: %d nodes", n)
	}
	nodes := make([]*Server, n)
	for i := range nodes {
		nodes[i] = start(t, func() ([]string, error) {
			// The cluster bus port is chosen too: the default, port+10000,
			// is often above 65535 for an ephemeral port.
			bus, err := freePort()
			if err != nil {
				return nil, err
			}
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000"}, nil
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*redis.Client, n)
	for i, s := range nodes {
		clients[i] = s.Client()
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n-1
		if err := clients[i].ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, s.Addr(), err)
		}
	}
	for _, s := range nodes[1:] {
		// MEET must name the bus port, which is not port+10000 here.
		if err := clients[0].Do(ctx, "cluster", "meet", "127.0.0.1", s.Port(), s.arg("--cluster-port")).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER MEET %s: %v", s.Addr(), err)
		}
	}
	want := fmt.Sprintf("cluster_known_nodes:%d", n)
	for {
		ready := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, want) {
				ready = false
				break
			}
		}
		if ready {
			return nodes
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: cluster of %d nodes not ready within 30s", n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addrs returns the addresses of servers, for a cluster client's seed list.
func Addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr()
	}
	return out
}

// arg returns the value that follows name in the server's extra arguments.
func (s *Server) arg(name string) string {
	for i, a := range s.extra {
		if a == name && i+1 < len(s.extra) {
			return s.extra[i+1]
		}
	}
	return ""
}
