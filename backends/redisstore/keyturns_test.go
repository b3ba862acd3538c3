package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// Many requests of one gateway writing one session: none runs out of
// attempts, no increment is lost, and the turn table is empty afterwards.
func TestOneGatewayHotKeyTakesTurns(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	put(t, s, "hot", backends.Record{Data: make([]byte, 8), Timeout: 20})
	const writers, each = 32, 40
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				err := s.Apply(bg(t), "hot", func(cur *backends.Record) backends.Change {
					r := *cur
					r.Data = binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(cur.Data)+1)
					return backends.Change{Action: backends.Store, Record: r}
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, _ := get(t, s, "hot")
	if n := binary.BigEndian.Uint64(got.Data); n != writers*each {
		t.Fatalf("counter %d after %d increments", n, writers*each)
	}
	if n := s.turns.waiting("hot"); n != 0 {
		t.Fatalf("%d turns left behind", n)
	}
	t.Logf("conflicts: %d for %d writes", s.PipelineStats().ConflictRetries, writers*each)
}

func TestKeyTurnWaitEndsAtTheDeadline(t *testing.T) {
	var k keyTurns
	release, err := k.take(context.Background(), time.Now().Add(time.Second), "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.take(context.Background(), time.Now().Add(20*time.Millisecond), "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second take while held: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k.take(ctx, time.Now().Add(time.Second), "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v", err)
	}
	if n := k.waiting("k"); n != 1 {
		t.Fatalf("%d holders and waiters, want the one holder", n)
	}
	release()
	if n := k.waiting("k"); n != 0 {
		t.Fatalf("%d left after release", n)
	}
	if release, err = k.take(context.Background(), time.Now().Add(time.Second), "k"); err != nil {
		t.Fatal(err)
	}
	release()
}
