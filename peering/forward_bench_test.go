package peering_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering/peeringtest"
)

// BenchmarkForward measures a forwarded read of a 1 KiB session over a real
// mutual-TLS link between two members in this process: the requester's
// Route and the owner's handler, with 16 concurrent callers (as a busy
// gateway's web-server connections), so the per-op figures are the CPU and
// allocations one forward costs both members together.
func BenchmarkForward(b *testing.B) {
	c := peeringtest.New(b, 2, peeringtest.Options{})
	via, owner := c.Members[0], c.Members[1]
	var keys []string
	for i := 0; len(keys) < 256; i++ {
		k := fmt.Sprintf("/LM/W3SVC/1/ROOT/bench(%d)", i)
		if c.Owner(0, k) == 1 {
			keys = append(keys, k)
		}
	}
	body := make([]byte, 1024)
	for _, k := range keys {
		set := locking.Request{Op: locking.OpSet, Timeout: locking.N(20), Body: body}
		if _, err := owner.Node.Route(context.Background(), k, &set, decide(&set)); err != nil {
			b.Fatal(err)
		}
	}
	get := locking.Request{Op: locking.OpGet}
	fn := decide(&get)
	var next atomic.Uint64
	b.SetParallelism(8) // 16 callers on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := keys[next.Add(1)%uint64(len(keys))]
			res, err := via.Node.Route(context.Background(), k, &get, fn)
			if err != nil || res == nil || res.Status != 200 {
				b.Errorf("forwarded Get: %v %v", res, err)
				return
			}
		}
	})
}

func decide(req *locking.Request) backends.Transition {
	return func(cur *backends.Record) backends.Change {
		_, ch := locking.Decide(cur, req, time.Now())
		return ch
	}
}
