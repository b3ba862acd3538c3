package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

func rec(data string) backends.Record { return backends.Record{Data: []byte(data), Timeout: 20} }

func wantData(t *testing.T, s *Store, key, want string) {
	t.Helper()
	got, err := backends.Get(ctx, s, key)
	if want == "" {
		if !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("%s = %q, %v; want not found", key, got.Data, err)
		}
		return
	}
	if err != nil || string(got.Data) != want {
		t.Fatalf("%s = %q, %v; want %q", key, got.Data, err, want)
	}
}

// TestReadsComeFromTheLogUntilCheckpointed: a logged write is served from
// memory without touching bbolt, and from bbolt after the checkpoint.
func TestReadsComeFromTheLogUntilCheckpointed(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	release := holdCheckpoints(t, s) // no checkpoint meanwhile
	before := lastTxID(t, s)
	for i := range 3 {
		if err := backends.Put(ctx, s, "k", rec(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	got := do(t, s, "k", locking.Request{Op: locking.OpGetExclusive}, e.clock.Now())
	if got.Status != 200 || string(got.Body) != "v2" || got.LockCookie != 1 { // Put stored cookie 0
		t.Fatalf("acquire = %+v", got)
	}
	if lastTxID(t, s) != before {
		t.Fatal("logged writes reached bbolt before a checkpoint")
	}
	if sessions, _ := bucketLens(t, s); sessions != 0 {
		t.Fatalf("bbolt holds %d sessions before a checkpoint", sessions)
	}
	release()
	checkpoint(t, s)
	if sessions, _ := bucketLens(t, s); sessions != 1 {
		t.Fatalf("bbolt holds %d sessions after a checkpoint, want 1", sessions)
	}
	if got := do(t, s, "k", locking.Request{Op: locking.OpGet}, e.clock.Now()); got.Status != 423 || got.LockCookie != 1 {
		t.Fatalf("get after checkpoint = %+v, want 423 with cookie 1", got)
	}
	if seqs, _ := listSegments(e.path); len(seqs) != 1 {
		t.Fatalf("%d segments after a checkpoint, want the live one", len(seqs))
	}
}

// TestCrashBeforeCheckpointReplaysTheLog: writes, a lock and a delete that
// only reached the log are all there after a crash, and a second crash
// right after the replay changes nothing.
func TestCrashBeforeCheckpointReplaysTheLog(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	for _, k := range []string{"a", "b", "c"} {
		if err := backends.Put(ctx, s, k, rec("old "+k)); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(t, s)
	release := holdCheckpoints(t, s) // the rest stays in the log
	if err := backends.Put(ctx, s, "a", rec("new a")); err != nil {
		t.Fatal(err)
	}
	if err := backends.Remove(ctx, s, "b"); err != nil {
		t.Fatal(err)
	}
	if err := backends.Put(ctx, s, "d", rec("new d")); err != nil {
		t.Fatal(err)
	}
	got := do(t, s, "c", locking.Request{Op: locking.OpGetExclusive}, e.clock.Now())
	release()
	if got.LockCookie != 1 { // Put stored cookie 0
		t.Fatalf("acquire = %+v", got)
	}
	img := crashImage(t, s)
	for round := range 2 {
		c := e.open(img)
		wantData(t, c, "a", "new a")
		wantData(t, c, "b", "")
		wantData(t, c, "d", "new d")
		if got := do(t, c, "c", locking.Request{Op: locking.OpGet}, e.clock.Now()); got.Status != 423 || got.LockCookie != 1 {
			t.Fatalf("round %d: c = %+v, want locked with cookie 1", round, got)
		}
		img2 := crashImage(t, c)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		img = img2
	}
}

// TestCrashBetweenCheckpointAndSegmentRemoval: bbolt already holds newer
// states than the segments left behind (a checkpoint writes each key's
// current state, which may come from a later segment). Replaying the old
// segments over it must converge to the newest state.
func TestCrashBetweenCheckpointAndSegmentRemoval(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	release := holdCheckpoints(t, s)
	if err := backends.Put(ctx, s, "k", rec("v1")); err != nil {
		t.Fatal(err)
	}
	if err := backends.Put(ctx, s, "gone", rec("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.rotate(); err != nil { // v1 and gone in a retired segment
		t.Fatal(err)
	}
	if err := backends.Put(ctx, s, "k", rec("v2")); err != nil { // v2 in the live one
		t.Fatal(err)
	}
	if err := backends.Remove(ctx, s, "gone"); err != nil {
		t.Fatal(err)
	}
	// The segments as they are before the checkpoint removes the retired one.
	saved := t.TempDir() + "/saved.db"
	copySegments(t, e.path, saved)
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	release()
	img := crashImage(t, s) // bbolt: k=v2 (current state), gone deleted
	seqs, _ := listSegments(img)
	for _, seq := range seqs {
		_ = os.Remove(segmentPath(img, seq))
	}
	copySegments(t, saved, img) // both segments, as if the removal never happened
	c := e.open(img)
	wantData(t, c, "k", "v2")
	wantData(t, c, "gone", "")
}

// TestTornTailIsIgnored cuts the last segment at every byte of its last
// record and appends garbage: Open replays the complete records, ignores the
// rest, and the store works normally afterwards.
func TestTornTailIsIgnored(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	release := holdCheckpoints(t, s)
	if err := backends.Put(ctx, s, "first", rec("1")); err != nil {
		t.Fatal(err)
	}
	off := s.seg.off // the last record starts here
	if err := backends.Put(ctx, s, "second", rec("2")); err != nil {
		t.Fatal(err)
	}
	release()
	img := crashImage(t, s)
	seqs, _ := listSegments(img)
	last := segmentPath(img, seqs[len(seqs)-1])
	full, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	dbBytes, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for cut := int(off); cut <= len(full); cut++ {
		for _, tail := range [][]byte{nil, {0xff, 0, 0, 0, 1, 2}, bytes.Repeat([]byte{0}, 64)} {
			if cut == len(full) && tail == nil {
				continue // complete: checked below
			}
			dir := t.TempDir()
			path := dir + "/torn.db"
			if err := os.WriteFile(path, dbBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(segmentPath(path, seqs[len(seqs)-1]), append(bytes.Clone(full[:cut]), tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Open(withPath(e.cfg, path))
			if err != nil {
				t.Fatalf("cut at %d (+%d bytes of garbage): %v", cut, len(tail), err)
			}
			wantData(t, c, "first", "1")
			want := ""
			if cut == len(full) {
				want = "2" // the record is complete; garbage after it is the torn part
			}
			wantData(t, c, "second", want)
			if err := backends.Put(ctx, c, "third", rec("3")); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := e.open(img)
	wantData(t, c, "second", "2")
}

// TestCorruptOlderSegmentIsRefused: a bad record in a segment that newer
// ones follow is not a torn tail; Open refuses, naming the file.
func TestCorruptOlderSegmentIsRefused(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	release := holdCheckpoints(t, s)
	if err := backends.Put(ctx, s, "k", rec("v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.rotate(); err != nil {
		t.Fatal(err)
	}
	if err := backends.Put(ctx, s, "k", rec("v2")); err != nil {
		t.Fatal(err)
	}
	release()
	img := crashImage(t, s)
	seqs, _ := listSegments(img)
	if len(seqs) != 2 {
		t.Fatalf("%d segments, want 2", len(seqs))
	}
	old := segmentPath(img, seqs[0])
	b, _ := os.ReadFile(old)
	b[len(b)-2] ^= 0xff
	if err := os.WriteFile(old, b, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, e, img, "corrupt log", old)
}

// TestWriteFailureIsUndone: after a failed append the log is truncated back,
// so the next acknowledged batch follows the last good one and replay sees
// neither the failed write nor garbage.
func TestWriteFailureIsUndone(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.cfg.faults = &faults{}
	s := e.open(e.path)
	release := holdCheckpoints(t, s)
	defer release()
	if err := backends.Put(ctx, s, "a", rec("1")); err != nil {
		t.Fatal(err)
	}
	e.cfg.faults.failSync.Store(true) // the bytes are written, the sync fails
	if err := backends.Put(ctx, s, "b", rec("lost")); err == nil {
		t.Fatal("acknowledged")
	}
	e.cfg.faults.failSync.Store(false)
	if err := backends.Put(ctx, s, "c", rec("3")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.seg.path)
	if err != nil {
		t.Fatal(err)
	}
	recs, clean := parseSegment(data)
	if !clean || len(recs) != 2 || string(recs[0].key) != "a" || string(recs[1].key) != "c" {
		t.Fatalf("log holds %d records (clean %v), want a and c", len(recs), clean)
	}
}

func TestSegmentNamesAreOurs(t *testing.T) {
	p := segmentPath("/x/s.db", 0x1f)
	if !strings.HasSuffix(p, "s.db.wal.000000000000001f") {
		t.Fatal(p)
	}
}

// holdCheckpoints renews the lease (so that reads need no flush) and takes
// ckptMu, so that nothing is checkpointed until the test releases it.
// It returns the release; a test that fails while holding it releases it
// at cleanup, before the store's Close.
func holdCheckpoints(t *testing.T, s *Store) (release func()) {
	t.Helper()
	s.renewLease(ctx)
	s.ckptMu.Lock()
	var once sync.Once
	release = func() { once.Do(s.ckptMu.Unlock) }
	t.Cleanup(release)
	return release
}

func withPath(cfg Config, path string) Config {
	cfg.Path = path
	return cfg
}
