package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aspstate/aspstate/backends"
)

// wantOpenError opens path and checks the error names the path and says why.
func wantOpenError(t *testing.T, e *testEnv, path string, why ...string) {
	t.Helper()
	cfg := e.cfg
	cfg.Path = path
	s, err := Open(cfg)
	if err == nil {
		_ = s.Close()
		t.Fatalf("Open(%s) succeeded", path)
	}
	t.Logf("Open: %v", err)
	msg := err.Error()
	if !strings.Contains(msg, path) {
		t.Errorf("error does not name the path: %v", err)
	}
	for _, w := range why {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

func TestSecondOpenFailsFastNamingTheLock(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.open(e.path)
	start := time.Now()
	wantOpenError(t, e, e.path, "locked by another process")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second Open took %s", d) // generous: the machine is shared
	}
}

func TestGarbageFileIsRefused(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	junk := make([]byte, 64<<10)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(junk)
	if err := os.WriteFile(e.path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, e, e.path, "not a bbolt file")
	if got, _ := os.ReadFile(e.path); !bytes.Equal(got, junk) {
		t.Error("Open modified a file it refused")
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, e.path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaFormat, []byte{0, 0, 0, formatVersion + 1})
	})
	wantOpenError(t, e, e.path, "format version 2", "newer")
}

func TestForeignBoltFileIsRefused(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	editFile(t, e.path, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("someone else's"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	wantOpenError(t, e, e.path, "not an aspstated session file")
}

func TestCorruptPagesAreAnErrorNotAPanic(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.cfg.Sync = SyncNone
	s := e.open(e.path)
	for i := range 200 {
		if err := backends.Put(ctx, s, strings.Repeat("k", 50)+string(rune('a'+i%26))+strings.Repeat("x", i),
			backends.Record{Data: bytes.Repeat([]byte{byte(i)}, 300), Timeout: 20}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Keep the two meta pages (valid checksums) and overwrite everything
	// they point to.
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for i := 2 * page; i < len(raw); i++ {
		raw[i] = 0xA5
	}
	path := e.path
	if runtime.GOOS == "windows" {
		// bbolt leaves its memory map behind when it panics in Open (see
		// openFile), and Windows refuses to delete a mapped file, so
		// t.TempDir's cleanup would fail: corrupt a copy outside it, removed
		// on a best-effort basis.
		dir, err := os.MkdirTemp("", "boltcorrupt")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		path = filepath.Join(dir, "sessions.db")
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, e, path, "corrupt") // the test itself would die on a panic
}

func TestMissingDirectoryNamesThePath(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	path := filepath.Join(e.path, "no", "such", "dir.db")
	wantOpenError(t, e, path)
	cfg := e.cfg
	cfg.Path = path
	if _, err := Open(cfg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open: %v, want an error wrapping fs.ErrNotExist", err)
	}
}

// editFile opens path with bbolt directly and runs fn in a write transaction.
func editFile(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFullDiskFailsTheWrite makes appends to the write-ahead log fail as on
// a full disk (at the write, then at fdatasync): Apply returns an error,
// never an acknowledgement, nothing of the failed write is visible, now or
// after a crash, and the store keeps serving what it has.
func TestFullDiskFailsTheWrite(t *testing.T) {
	for _, at := range []string{"write", "fdatasync"} {
		t.Run(at, func(t *testing.T) {
			e := newTestEnv(t, time.Hour, time.Hour)
			e.cfg.faults = &faults{}
			s := e.open(e.path)
			if err := backends.Put(ctx, s, "existing", backends.Record{Data: []byte("still here"), Timeout: 20}); err != nil {
				t.Fatal(err)
			}
			fail := &e.cfg.faults.failWrite
			if at == "fdatasync" {
				fail = &e.cfg.faults.failSync
			}
			fail.Store(true)
			big := backends.Record{Data: bytes.Repeat([]byte("x"), 512<<10), Timeout: 20}
			for _, k := range []string{"big", "existing"} {
				err := backends.Put(ctx, s, k, big)
				if err == nil {
					t.Fatalf("a write that failed to reach the log was acknowledged (%s)", k)
				}
				if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrClosed) || errors.Is(err, backends.ErrFull) {
					t.Fatalf("write failure disguised as %v", err)
				}
				if !strings.Contains(err.Error(), e.path) {
					t.Errorf("error does not name the path: %v", err)
				}
			}
			// The store keeps serving what it has, and the failed writes left nothing.
			if got, err := backends.Get(ctx, s, "existing"); err != nil || string(got.Data) != "still here" {
				t.Fatalf("read after a failed write = %q, %v", got.Data, err)
			}
			if _, err := backends.Get(ctx, s, "big"); !errors.Is(err, backends.ErrNotFound) {
				t.Fatalf("the failed write is visible: %v", err)
			}
			if img := crashImage(t, s); true {
				fl := e.cfg.faults
				e.cfg.faults = nil // the image's own log is fine
				c := e.open(img)
				e.cfg.faults = fl
				if got, err := backends.Get(ctx, c, "existing"); err != nil || string(got.Data) != "still here" {
					t.Fatalf("after a crash: %q, %v", got.Data, err)
				}
				if _, err := backends.Get(ctx, c, "big"); !errors.Is(err, backends.ErrNotFound) {
					t.Fatalf("the failed write came back after a crash: %v", err)
				}
			}
			// Once there is room again, writes work.
			fail.Store(false)
			if err := backends.Put(ctx, s, "big", big); err != nil {
				t.Fatalf("write after space came back: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = e.open(e.path)
			if got, err := backends.Get(ctx, s, "big"); err != nil || len(got.Data) != len(big.Data) {
				t.Fatalf("after reopen: %d bytes, %v", len(got.Data), err)
			}
		})
	}
}

// TestFailingCheckpointKeepsWritesInTheLog uses bbolt's MaxSize to make the
// file unable to grow, as a full disk would for the checkpointer: writes are
// still acknowledged, because they are durable in the log, reads see them,
// a crash image replays them, and the checkpoint catches up once there is
// room.
func TestFailingCheckpointKeepsWritesInTheLog(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	if err := backends.Put(ctx, s, "existing", backends.Record{Data: []byte("still here"), Timeout: 20}); err != nil {
		t.Fatal(err)
	}
	checkpoint(t, s)
	info, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	s.ckptMu.Lock()
	s.db.MaxSize = int(info.Size()) // read by bbolt inside write transactions, which ckptMu orders
	s.ckptMu.Unlock()

	big := backends.Record{Data: bytes.Repeat([]byte("x"), 512<<10), Timeout: 20}
	if err := backends.Put(ctx, s, "big", big); err != nil {
		t.Fatal(err)
	}
	if err := s.checkpointNow(); err == nil {
		t.Fatal("checkpoint into a file that cannot grow succeeded")
	}
	if got, err := backends.Get(ctx, s, "big"); err != nil || len(got.Data) != len(big.Data) {
		t.Fatalf("read of a logged write while checkpoints fail: %d bytes, %v", len(got.Data), err)
	}
	img := crashImage(t, s)
	c := e.open(img)
	if got, err := backends.Get(ctx, c, "big"); err != nil || len(got.Data) != len(big.Data) {
		t.Fatalf("crash while checkpoints fail: %d bytes, %v", len(got.Data), err)
	}
	s.ckptMu.Lock()
	s.db.MaxSize = 0
	s.ckptMu.Unlock()
	checkpoint(t, s)
	if seqs, _ := listSegments(e.path); len(seqs) != 1 {
		t.Fatalf("after the checkpoint caught up: %d log segments, want the live one", len(seqs))
	}
	if sessions, _ := bucketLens(t, s); sessions != 2 {
		t.Fatalf("bbolt holds %d sessions, want 2", sessions)
	}
}

// TestClosedFileFailsReadsAndWrites closes the bbolt handle under the store,
// as an unusable file would: every Apply that needs the file returns an error
// rather than a not-found or an acknowledgement.
func TestClosedFileFailsReadsAndWrites(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	if err := backends.Put(ctx, s, "k", backends.Record{Data: []byte("v"), Timeout: 20}); err != nil {
		t.Fatal(err)
	}
	checkpoint(t, s) // so that the read needs the file
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.seg.f.Close() // the log file too
	if _, err := backends.Get(ctx, s, "k"); err == nil || errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("read from a closed file = %v, want an error other than not-found", err)
	}
	// A write needs the log.
	if err := backends.Put(ctx, s, "new", backends.Record{Data: []byte("v"), Timeout: 20}); err == nil {
		t.Fatal("write to a closed file acknowledged")
	}
	if err := s.Close(); err != nil {
		t.Logf("Close after the file was closed under it: %v", err) // the final flush may fail; that is reported
	}
}

func TestSweepRemovesExpiredRecordsFromDisk(t *testing.T) {
	e := newTestEnv(t, time.Hour, 5*time.Millisecond)
	e.cfg.Sync = SyncNone // 2,500 single writes: no fsync each
	s := e.open(e.path)
	const n = 2500 // more than one sweep batch
	key := func(i int) string { return fmt.Sprintf("k%05d", i) }
	for i := range n {
		timeout := int32(1)
		if i%10 == 0 {
			timeout = 20
		}
		if err := backends.Put(ctx, s, key(i), backends.Record{Data: []byte("v"), Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
	}
	// Every 10th 1-minute record is read at +30 s: it slides to +90 s.
	e.clock.Advance(30 * time.Second)
	for i := 5; i < n; i += 10 {
		if _, err := backends.Get(ctx, s, key(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitForDisk := func(want int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			sessions, deadlines := bucketLens(t, s)
			if sessions == want && deadlines == want && s.ix.len() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after sweeping: %d sessions, %d deadlines, %d index entries; want %d",
					sessions, deadlines, s.ix.len(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	e.clock.Advance(30*time.Second + time.Millisecond) // +60 s: the unread 1-minute records expire
	waitForDisk(2 * n / 10)
	if s.Len() != 2*n/10 {
		t.Fatalf("Len = %d, want %d", s.Len(), 2*n/10)
	}
	e.clock.Advance(30 * time.Second) // +90 s: the read ones too
	waitForDisk(n / 10)
	// A shorter timeout on a stored key is swept at its new deadline.
	if err := backends.Put(ctx, s, key(0), backends.Record{Data: []byte("v"), Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute + time.Millisecond)
	waitForDisk(n/10 - 1)
}

func bucketLens(t *testing.T, s *Store) (sessions, deadlines int) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		sessions = tx.Bucket(bucketSessions).Stats().KeyN
		deadlines = tx.Bucket(bucketDeadlines).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sessions, deadlines
}

func TestTooLarge(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	s := e.open(e.path)
	err := backends.Put(ctx, s, "k", backends.Record{Data: make([]byte, testMaxValue+1), Timeout: 20})
	if !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("Put of MaxValueSize+1 bytes = %v, want ErrTooLarge", err)
	}
	if err := s.Apply(ctx, "", func(*backends.Record) backends.Change { return backends.Change{} }); err == nil {
		t.Error("empty key accepted (bbolt cannot store it)")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "boltstore: path: must not be empty"},
		{Config{Path: "x", Sync: "sometimes"}, "boltstore: sync:"},
		{Config{Path: "x", FlushInterval: -time.Second}, "boltstore: flush_interval:"},
		{Config{Path: "x", SweepInterval: time.Microsecond}, "boltstore: sweep_interval:"},
		{Config{Path: "x", MaxValueSize: -1}, "boltstore: max_value_size:"},
		{Config{Path: "x", MaxValueSize: 1 << 31}, "boltstore: max_value_size:"},
		{Config{Path: "x", Sync: "none"}, ""},
		{Config{Path: "x"}, ""},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q...", tc.cfg, err, tc.want)
		}
	}
	if _, err := Open(Config{Path: "x", Sync: "fsync"}); err == nil || !strings.Contains(err.Error(), "sync") {
		t.Errorf("Open with a bad sync policy = %v", err)
	}
}

func TestRecordEncodingRoundTrips(t *testing.T) {
	for _, r := range []backends.Record{
		{},
		{Data: []byte{}, Timeout: 1},
		{Data: []byte("x"), Timeout: 525600, Uninitialized: true, Locked: true, LockCookie: 1<<31 - 1,
			LockDate: time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)},
		{Data: []byte("y"), LockCookie: -5, LockDate: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
		{Data: []byte("z"), LockDate: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	} {
		got, err := decodeRecord(encodeRecord(&r))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, r.Data) || got.Timeout != r.Timeout || got.Uninitialized != r.Uninitialized ||
			got.Locked != r.Locked || got.LockCookie != r.LockCookie || !got.LockDate.Equal(r.LockDate) {
			t.Errorf("round trip of %+v = %+v", r, got)
		}
	}
	for _, bad := range [][]byte{nil, {recordVersion}, append([]byte{9}, make([]byte, recordHeaderLen)...)} {
		if _, err := decodeRecord(bad); !errors.Is(err, errBadRecord) {
			t.Errorf("decode %x = %v", bad, err)
		}
	}
}
