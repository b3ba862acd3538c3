package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
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

// netOut is the bytes Redis has written to its clients so far.
func netOut(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	return infoStat(t, srv.Client(), "total_net_output_bytes")
}

// issue 17: a large session read again unchanged is not sent again: Redis
// confirms the write id and sends the deadline only, and the read still
// slides the deadline.
func TestLargeSessionReadAgainIsNotSentAgain(t *testing.T) {
	srv := redistest.Start(t)
	const start = 1_900_000_000_000 // 2030, ahead of Redis's own clock
	clock := backendtest.NewClock(time.UnixMilli(start).UTC())
	s := open(t, srv, func(c *Config) { c.Now = clock.Now })
	big := bytes.Repeat([]byte("b"), 4*directBytes)
	put(t, s, "big", backends.Record{Data: big, Timeout: 20})
	if rec, ok := get(t, s, "big"); !ok || !bytes.Equal(rec.Data, big) {
		t.Fatal("the first read")
	}
	clock.Advance(time.Minute)
	before := netOut(t, srv)
	rec, ok := get(t, s, "big")
	sent := netOut(t, srv) - before // includes the first INFO's reply
	if !ok || !bytes.Equal(rec.Data, big) {
		t.Fatalf("the second read: found %v, %d bytes", ok, len(rec.Data))
	}
	if sent > directBytes {
		t.Errorf("Redis sent %d bytes for a read of an unchanged %d-byte session", sent, len(big))
	}
	want := (start + 21*60*1000) * int64(time.Millisecond)
	if got := srv.Client().PExpireTime(bg(t), s.cfg.KeyPrefix+"s:big").Val(); int64(got) != want {
		t.Errorf("deadline after the second read %v, want %v", got, time.Duration(want))
	}
}

// What another gateway writes, locks or deletes is seen at once: the copy
// is used only when Redis confirms it is the stored value.
func TestLargeSessionChangedElsewhereIsReadAgain(t *testing.T) {
	srv := redistest.Start(t)
	shared := func(c *Config) { c.KeyPrefix = "shared:" }
	reader, writer := open(t, srv, shared), open(t, srv, shared)
	v1 := bytes.Repeat([]byte("1"), 2*directBytes)
	v2 := bytes.Repeat([]byte("2"), 2*directBytes)
	put(t, writer, "k", backends.Record{Data: v1, Timeout: 20})
	if rec, ok := get(t, reader, "k"); !ok || !bytes.Equal(rec.Data, v1) {
		t.Fatal("the first read")
	}
	put(t, writer, "k", backends.Record{Data: v2, Timeout: 20})
	if rec, ok := get(t, reader, "k"); !ok || !bytes.Equal(rec.Data, v2) {
		t.Fatalf("after another gateway's write: found %v, %.1q", ok, rec.Data[:min(len(rec.Data), 1)])
	}
	// A lock taken elsewhere changes only the header.
	var cookie int32
	if err := writer.Apply(bg(t), "k", func(cur *backends.Record) backends.Change {
		rec := *cur
		rec.Locked, rec.LockCookie, rec.LockDate = true, 7, time.Now()
		return backends.Change{Action: backends.Store, Record: rec}
	}); err != nil {
		t.Fatal(err)
	}
	if err := reader.Apply(bg(t), "k", func(cur *backends.Record) backends.Change {
		if cur != nil {
			cookie = cur.LockCookie
		}
		return backends.Change{Action: backends.Keep}
	}); err != nil || cookie != 7 {
		t.Fatalf("after a lock taken elsewhere the reader sees cookie %d (%v), want 7", cookie, err)
	}
	if err := backends.Remove(bg(t), writer, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, reader, "k"); ok {
		t.Fatal("a session removed elsewhere is still found")
	}
}

// An expired large session reads as absent through the copy too, and its
// deadline is not slid back to life.
func TestLargeSessionExpiredIsNotRevived(t *testing.T) {
	srv := redistest.Start(t)
	const start = 1_900_000_000_000
	clock := backendtest.NewClock(time.UnixMilli(start).UTC())
	s := open(t, srv, func(c *Config) { c.Now = clock.Now })
	put(t, s, "big", backends.Record{Data: bytes.Repeat([]byte("b"), 2*directBytes), Timeout: 1})
	if _, ok := get(t, s, "big"); !ok {
		t.Fatal("the first read")
	}
	deadline := srv.Client().PExpireTime(bg(t), s.cfg.KeyPrefix+"s:big").Val()
	clock.Advance(2 * time.Minute)
	if _, ok := get(t, s, "big"); ok {
		t.Fatal("an expired session was found")
	}
	if got := srv.Client().PExpireTime(bg(t), s.cfg.KeyPrefix+"s:big").Val(); got != deadline {
		t.Errorf("the expired session's deadline moved from %v to %v", deadline, got)
	}
}

// The copies are bounded, and a small value forgets the key.
func TestBigCopiesBound(t *testing.T) {
	var b bigCopies
	val := func(n int) stored { return stored{rec: backends.Record{Data: make([]byte, n)}, wid: "w"} }
	for i := 0; i < 2*bigCopyBytes/(4*directBytes); i++ {
		b.put(fmt.Sprint(i), val(4*directBytes))
	}
	if b.bytes > bigCopyBytes || b.bytes != len(b.m)*4*directBytes {
		t.Fatalf("%d bytes held in %d copies, bound %d", b.bytes, len(b.m), bigCopyBytes)
	}
	b.put("0", val(10))
	if _, ok := b.get("0"); ok {
		t.Fatal("a small value is kept")
	}
	b.put("huge", val(bigCopyBytes+1))
	if _, ok := b.get("huge"); ok {
		t.Fatal("a value over the bound is kept")
	}
}
