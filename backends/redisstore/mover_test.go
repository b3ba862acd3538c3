package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/redisstore/redistest"
)

// Walk pages through the store's own keys with SCAN, never KEYS: other
// prefixes, the store's non-session keys and values it did not write are
// not its records, and many keys take many SCAN calls.
func TestWalkScansInPagesOverItsPrefix(t *testing.T) {
	srv := redistest.Start(t)
	// A prefix with glob characters must match itself only.
	s := open(t, srv, func(c *Config) { c.KeyPrefix = "we*ird[1]:" })
	other := open(t, srv, func(c *Config) { c.KeyPrefix = "weXird1:" })
	const n = 1500
	for i := range n {
		put(t, s, fmt.Sprintf("k%04d", i), backends.Record{Data: []byte("v"), Timeout: 20, LockCookie: int32(i)})
	}
	put(t, other, "not-mine", backends.Record{Data: []byte("x"), Timeout: 20})
	rc := srv.Client()
	if err := rc.Set(bg(t), "we*ird[1]:r:k0001", "a release channel's name, as a key", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigResetStat(bg(t)).Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	err := s.Walk(bg(t), func(key string, rec *backends.Record, expires time.Time) error {
		seen[key]++
		if want := "k" + fmt.Sprintf("%04d", rec.LockCookie); key != want {
			return fmt.Errorf("key %q has the record of %q", key, want)
		}
		if d := time.Until(expires); d < 19*time.Minute || d > 21*time.Minute {
			return fmt.Errorf("%q expires in %v, want about 20m", key, d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("Walk saw %d keys, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 || !strings.HasPrefix(k, "k") {
			t.Fatalf("Walk saw %q %d times", k, c)
		}
	}
	stats := rc.Info(bg(t), "commandstats").Val()
	if strings.Contains(stats, "cmdstat_keys:") {
		t.Fatal("Walk used KEYS")
	}
	scans := callsOf(stats, "scan")
	if scans < n/walkScanCount {
		t.Fatalf("%d SCAN calls for %d keys in pages of %d", scans, n, walkScanCount)
	}
	// Peek does not slide and Walk does not either: the deadline is the Put's.
	rec, dl1, err := s.Peek(bg(t), "k0007")
	if err != nil || rec.LockCookie != 7 {
		t.Fatalf("Peek: %+v %v", rec, err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, dl2, _ := s.Peek(bg(t), "k0007"); !dl2.Equal(dl1) {
		t.Fatalf("Peek slid the deadline from %v to %v", dl1, dl2)
	}
}

// callsOf reads cmdstat_<cmd>:calls=N from INFO commandstats.
func callsOf(stats, cmd string) int {
	for _, line := range strings.Split(stats, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// A value under the store's prefix that it did not write is an error, not a
// silently skipped session.
func TestWalkReportsAForeignValue(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, nil)
	if err := srv.Client().Set(bg(t), s.cfg.KeyPrefix+"s:foreign", "not a record", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := s.Walk(bg(t), func(string, *backends.Record, time.Time) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "corrupt record") {
		t.Fatalf("Walk over a foreign value: %v", err)
	}
}
