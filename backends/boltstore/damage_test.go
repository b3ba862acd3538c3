package boltstore

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aspstate/aspstate/backends"
)

// writeSessions stores n sessions, each twice (the second value is the one
// acknowledged last), from 16 goroutines, and returns the final values.
func writeSessions(t *testing.T, s *Store, n int) map[string][]byte {
	t.Helper()
	want := make(map[string][]byte, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				key := fmt.Sprintf("session-%05d", i)
				for v := 1; v <= 2; v++ {
					val := bytes.Repeat([]byte(fmt.Sprintf("%s v%d;", key, v)), 40)
					if err := backends.Put(ctx, s, key, backends.Record{Data: val, Timeout: 20}); err != nil {
						t.Errorf("Put: %v", err)
						return
					}
					if v == 2 {
						mu.Lock()
						want[key] = val
						mu.Unlock()
					}
				}
			}
		}(w)
	}
	wg.Wait()
	return want
}

// checkSessions: no acknowledged session answered 404 or a stale value.
func checkSessions(t *testing.T, s *Store, want map[string][]byte) {
	t.Helper()
	missing, stale := 0, 0
	for key, val := range want {
		rec, err := backends.Get(ctx, s, key)
		switch {
		case err == backends.ErrNotFound:
			missing++
		case err != nil:
			t.Fatalf("Get(%s): %v", key, err)
		case !bytes.Equal(rec.Data, val):
			stale++
		}
	}
	if missing+stale > 0 {
		t.Errorf("of %d acknowledged sessions, %d answered 404 and %d a stale value", len(want), missing, stale)
	}
}

// newestSegment returns the path and bytes of the newest log segment of db.
func newestSegment(t *testing.T, db string) (string, []byte) {
	t.Helper()
	seqs, err := listSegments(db)
	if err != nil || len(seqs) == 0 {
		t.Fatalf("no log segments beside %s (%v)", db, err)
	}
	p := segmentPath(db, seqs[len(seqs)-1])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

// issue 17: one damaged byte in the newest log segment, followed by more
// records, is corruption, not a torn tail: Open stops naming the segment and
// deletes nothing. Once the byte is restored, every acknowledged session is
// back with its last value.
func TestDamagedByteInNewestSegmentStopsOpen(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.cfg.Sync = SyncNone
	s := e.open(e.path)
	want := writeSessions(t, s, 1000)
	img := crashImage(t, s)
	seg, data := newestSegment(t, img)
	if recs, _ := parseSegment(data); len(recs) < 20 {
		t.Fatalf("the newest segment holds only %d records; the test needs more", len(recs))
	}
	at := len(data) / 2
	orig := data[at]
	data[at] ^= 0x5a
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, e, img, seg, "corrupt log", "nothing was deleted")
	if got, err := os.ReadFile(seg); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the damaged segment was deleted or changed (%v)", err)
	}
	data[at] = orig
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	checkSessions(t, e.open(img), want)
}

// A torn tail (the newest segment ends in half a record, as a crash during
// an append leaves it) is still accepted, and loses nothing acknowledged.
func TestTornTailIsAccepted(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.cfg.Sync = SyncNone
	s := e.open(e.path)
	want := writeSessions(t, s, 300)
	img := crashImage(t, s)
	seg, data := newestSegment(t, img)
	recs, _ := parseSegment(data)
	end := parsedLen(recs, data)
	// Half of a copy of the first record: length and checksum intact, the
	// payload cut short.
	first := data[walStart : walStart+walRecHeader+len(recs[0].key)+20]
	if err := os.WriteFile(seg, append(data[:end:end], first...), 0o600); err != nil {
		t.Fatal(err)
	}
	checkSessions(t, e.open(img), want)
}

// issue 17: a truncated data file is an error naming it, never a crash
// (SIGSEGV/SIGBUS on a page beyond its end), whatever the cut.
func TestTruncatedDataFileIsAnError(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	e.cfg.Sync = SyncNone
	s := e.open(e.path)
	writeSessions(t, s, 2000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut within the pages in use (bbolt grows its file ahead of them).
	db, err := bolt.Open(e.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var used int
	db.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil })
	db.Close()
	page := os.Getpagesize()
	for _, size := range []int{used - page, used - 100, used * 3 / 4, used / 2, 5 * page, 4*page + 100} {
		if size <= 0 || size >= len(full) {
			continue
		}
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			p := e.path + fmt.Sprintf(".cut%d", size)
			if err := os.WriteFile(p, full[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			wantOpenError(t, e, p)
		})
	}
}

// issue 17: a 0-byte data file does not start as an empty store.
func TestEmptyDataFileIsRefused(t *testing.T) {
	e := newTestEnv(t, time.Hour, time.Hour)
	if err := os.WriteFile(e.path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenError(t, e, e.path, "empty (0 bytes)")
	if fi, err := os.Stat(e.path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed (%v)", err)
	}
}
