package badgerstore

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// issue 17: one client rewriting a large session grew the value log without
// end (about 70 MB/s with 20 MiB sessions; GC never found garbage, since the
// memtable never filled and so no compaction counted any). Here 160 rewrites
// of a 1 MiB session (40 value-log files of 4 MiB) must come back down to a
// few files, well before the 5-minute GCInterval.
func TestValueLogGCKeepsUpWithRewriter(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, testConfig(dir, nil))
	val := bytes.Repeat([]byte("x"), 1<<20-headerLen-64)
	for i := 0; i < 160; i++ {
		val[i] ^= 1
		put(t, s, "big", backends.Record{Data: val, Timeout: 20})
	}
	vlogs := func() int {
		files, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
		return len(files)
	}
	t.Logf("after the writes: %d value-log files", vlogs())
	// Not a timing assertion: without the collector nothing is reclaimed at
	// all; the deadline only keeps a failure from hanging.
	deadline := time.Now().Add(2 * time.Minute)
	for vlogs() > 8 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := vlogs(); n > 8 {
		t.Errorf("%d value-log files two minutes after the writes (forced flushes %d, files rewritten %d); want at most 8",
			n, s.gcFlushes.Load(), s.gcRewrites.Load())
	}
	t.Logf("then: %d value-log files (forced flushes %d, files rewritten %d)", vlogs(), s.gcFlushes.Load(), s.gcRewrites.Load())
	rec, err := backends.Get(ctx, s, "big")
	if err != nil || !bytes.Equal(rec.Data, val) {
		t.Fatalf("the session after GC: %v (equal %v)", err, err == nil && bytes.Equal(rec.Data, val))
	}
}

// Small sessions fill the memtable long before they fill two value-log
// files, so they never force a flush (which would stall reads and writes
// for nothing): 12,000 writes of 1 KiB (12 MiB, three value-log files).
func TestSmallSessionsForceNoFlush(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir(), nil))
	val := bytes.Repeat([]byte("s"), 1024)
	for i := 0; i < 12000; i++ {
		put(t, s, fmt.Sprintf("session-%05d", i), backends.Record{Data: val, Timeout: 20})
	}
	time.Sleep(2 * gcPoll) // let the collector look
	if n := s.gcFlushes.Load(); n != 0 {
		t.Errorf("%d forced memtable flushes for 1 KiB sessions; want none", n)
	}
}
