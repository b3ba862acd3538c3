package redisstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// issue 17: a client reading a 20 MiB session over and over put a 20 MiB
// reply in nearly every shared pipeline, and other clients' reads waited
// behind them (p99 607 ms). A session known to be large is now read in a
// pipeline of its own: here it is answered while the shared pipeline is
// held busy, where a small session's read waits.
func TestLargeSessionReadSkipsSharedPipeline(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	big := bytes.Repeat([]byte("b"), 2*directBytes)
	put(t, s, "big", backends.Record{Data: big, Timeout: 20})
	put(t, s, "small", backends.Record{Data: []byte("s"), Timeout: 20})

	// Hold the shared pipeline: every flusher slot taken, as while a
	// pipeline is in flight. The puts' flusher may still be looping (it
	// would take the small read from the queue), so wait for it to end.
	b := &s.batch
	deadline := time.Now().Add(10 * time.Second)
	b.mu.Lock()
	for b.flushers != 0 && time.Now().Before(deadline) {
		b.mu.Unlock()
		time.Sleep(time.Millisecond)
		b.mu.Lock()
	}
	held := b.flushers
	b.flushers = b.maxFlushers
	b.mu.Unlock()
	if held != 0 {
		t.Fatalf("%d flushers still running 10s after the last put", held)
	}
	defer func() {
		b.mu.Lock()
		b.flushers = held
		b.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := backends.Get(ctx, s, "small"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a small read with the shared pipeline held: %v; want it to wait (the test's premise)", err)
	}
	rec, ok := get(t, s, "big")
	if !ok || !bytes.Equal(rec.Data, big) {
		t.Fatalf("the large session: found %v, %d bytes", ok, len(rec.Data))
	}
}

// A key is remembered as large while its last value was, and forgotten when
// it reads back small; the set is bounded.
func TestBigKeysNote(t *testing.T) {
	var b bigKeys
	b.note("k", directBytes+1)
	if !b.has("k") {
		t.Fatal("a large value was not noted")
	}
	b.note("k", 10)
	if b.has("k") {
		t.Fatal("a key read back small is still noted")
	}
	for i := 0; i < maxBigKeys+10; i++ {
		b.note(string(rune(i)), directBytes+1)
	}
	if len(b.m) > maxBigKeys {
		t.Fatalf("%d keys noted, bound %d", len(b.m), maxBigKeys)
	}
}
