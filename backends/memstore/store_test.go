package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
	"github.com/aspstate/aspstate/backends/memstore"
)

func newStore(t testing.TB, cfg memstore.Config) *memstore.Store {
	t.Helper()
	s, err := memstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t testing.TB, s backends.Backend, key string, data []byte, timeout int32) error {
	t.Helper()
	return backends.Put(context.Background(), s, key, backends.Record{Data: data, Timeout: timeout, LockCookie: 1})
}

// waitFor polls cond for up to limit of real time.
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), cond()
}

// TestSweepRemovesExpired: the sweeper, ticking in real time but reading the
// test clock, removes expired records within about a second of real time, and
// leaves the live ones.
func TestSweepRemovesExpired(t *testing.T) {
	clk := backendtest.NewClock(time.Now())
	s := newStore(t, memstore.Config{Now: clk.Now})
	for i := range 1000 {
		if err := put(t, s, fmt.Sprintf("short-%d", i), []byte("data"), 1); err != nil {
			t.Fatal(err)
		}
		if err := put(t, s, fmt.Sprintf("long-%d", i), []byte("data"), 20); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 2000 {
		t.Fatalf("Len() = %d, want 2000", s.Len())
	}
	clk.Advance(time.Minute - time.Second)
	time.Sleep(600 * time.Millisecond) // at least two sweeps
	if s.Len() != 2000 {
		t.Fatalf("Len() = %d a second before any deadline, want 2000", s.Len())
	}
	clk.Advance(time.Second + time.Nanosecond) // just past the short deadlines
	took, ok := waitFor(3*time.Second, func() bool { return s.Len() == 1000 })
	if !ok {
		t.Fatalf("Len() = %d %v after the short records expired, want 1000", s.Len(), took)
	}
	t.Logf("swept %v after expiry (real time)", took)
	for i := range 1000 {
		if _, err := backends.Get(context.Background(), s, fmt.Sprintf("long-%d", i)); err != nil {
			t.Fatalf("long-%d: %v", i, err)
		}
	}
	if want := int64(1000 * (len("long-") + 4)); s.Bytes() < want || s.Bytes() > want+1000*3 {
		t.Fatalf("Bytes() = %d, want about %d", s.Bytes(), want)
	}
}

func TestMaxBytes(t *testing.T) {
	var logBuf bytes.Buffer
	var logMu sync.Mutex // guards logBuf
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))
	s := newStore(t, memstore.Config{MaxBytes: 1000, Logger: logger})
	ctx := context.Background()

	// key "a" + 500 bytes = 501.
	if err := put(t, s, "a", make([]byte, 500), 20); err != nil {
		t.Fatal(err)
	}
	// key "b" + 500 would be 1002.
	err := put(t, s, "b", make([]byte, 500), 20)
	if !errors.Is(err, backends.ErrFull) {
		t.Fatalf("Put over the cap = %v, want ErrFull", err)
	}
	if _, err := backends.Get(ctx, s, "b"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("refused record stored anyway: %v", err)
	}
	if got, err := backends.Get(ctx, s, "a"); err != nil || len(got.Data) != 500 {
		t.Fatalf("existing record after a refused Put: %v, %d bytes", err, len(got.Data))
	}
	logMu.Lock()
	logged := logBuf.String()
	logMu.Unlock()
	if !strings.Contains(logged, "capacity") {
		t.Fatalf("no log line for the refused write; log: %q", logged)
	}
	// Exactly at the cap is fine.
	if err := put(t, s, "b", make([]byte, 498), 20); err != nil {
		t.Fatalf("Put up to exactly the cap: %v", err)
	}
	if s.Bytes() != 1000 {
		t.Fatalf("Bytes() = %d, want 1000", s.Bytes())
	}
	// Growing an existing record is refused and leaves it as it was.
	if err := put(t, s, "b", bytes.Repeat([]byte{'x'}, 499), 20); !errors.Is(err, backends.ErrFull) {
		t.Fatalf("growing past the cap = %v, want ErrFull", err)
	}
	if got, _ := backends.Get(ctx, s, "b"); len(got.Data) != 498 || got.Data[0] != 0 {
		t.Fatalf("refused replacement changed the record: %d bytes", len(got.Data))
	}
	// Replacing with something smaller frees room.
	if err := put(t, s, "a", make([]byte, 100), 20); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "b", make([]byte, 898), 20); err != nil {
		t.Fatalf("Put into room freed by a smaller replacement: %v", err)
	}
	// Deleting frees room.
	if err := backends.Remove(ctx, s, "a"); err != nil {
		t.Fatal(err)
	}
	if s.Bytes() != 899 {
		t.Fatalf("Bytes() = %d after deleting a, want 899", s.Bytes())
	}
	if err := put(t, s, "c", make([]byte, 100), 20); err != nil {
		t.Fatalf("Put into room freed by a delete: %v", err)
	}
	// A Keep or a Delete never fails for capacity.
	if err := s.Apply(ctx, "zzz", func(*backends.Record) backends.Change { return backends.Change{} }); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", s.Len())
	}
}

// TestMaxBytesExpiryFreesRoom: an expired record's bytes are freed when it is
// found expired, without waiting for the sweeper.
func TestMaxBytesExpiryFreesRoom(t *testing.T) {
	clk := backendtest.NewClock(time.Now())
	s := newStore(t, memstore.Config{MaxBytes: 100, Now: clk.Now})
	if err := put(t, s, "k", make([]byte, 99), 1); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "j", make([]byte, 50), 1); !errors.Is(err, backends.ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	clk.Advance(2 * time.Minute)
	if err := put(t, s, "k", make([]byte, 99), 1); err != nil {
		t.Fatalf("replacing an expired record: %v", err)
	}
	if s.Bytes() != 100 || s.Len() != 1 {
		t.Fatalf("Bytes() = %d, Len() = %d; want 100, 1", s.Bytes(), s.Len())
	}
}

// TestMaxBytesConcurrent: many writers racing for the last room never push
// the total over the cap.
func TestMaxBytesConcurrent(t *testing.T) {
	const limit = 10_000
	s := newStore(t, memstore.Config{MaxBytes: limit})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				err := put(t, s, fmt.Sprintf("%d/%03d", g, i), make([]byte, 95), 20)
				if err != nil && !errors.Is(err, backends.ErrFull) {
					t.Error(err)
				}
				if b := s.Bytes(); b > limit {
					t.Errorf("Bytes() = %d over the cap", b)
				}
			}
		})
	}
	wg.Wait()
	if b := s.Bytes(); b != limit {
		t.Fatalf("Bytes() = %d, want the cap %d exactly (each record is 100 bytes)", b, limit)
	}
	if s.Len() != limit/100 {
		t.Fatalf("Len() = %d, want %d", s.Len(), limit/100)
	}
}

func TestMaxValueSize(t *testing.T) {
	s := newStore(t, memstore.Config{MaxValueSize: 10})
	if err := put(t, s, "k", make([]byte, 10), 20); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "k", make([]byte, 11), 20); !errors.Is(err, backends.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if got, _ := backends.Get(context.Background(), s, "k"); len(got.Data) != 10 {
		t.Fatalf("refused value replaced the record: %d bytes", len(got.Data))
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg memstore.Config
		ok  bool
	}{
		{memstore.Config{}, true},
		{memstore.Config{MaxBytes: 1 << 30, MaxValueSize: 1 << 20}, true},
		{memstore.Config{MaxBytes: -1}, false},
		{memstore.Config{MaxValueSize: -1}, false},
		{memstore.Config{MaxBytes: 10, MaxValueSize: 11}, false},
	} {
		err := c.cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%+v.Validate() = %v", c.cfg, err)
		}
		if _, err := memstore.New(c.cfg); (err == nil) != c.ok {
			t.Errorf("New(%+v) = %v", c.cfg, err)
		}
	}
}

// TestCloseWhileBusy: Apply racing with Close either works or reports
// ErrClosed; nothing panics and the sweeper stops.
func TestCloseWhileBusy(t *testing.T) {
	s, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := put(t, s, fmt.Sprint(g, i%50), []byte("v"), 20)
				if errors.Is(err, backends.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("after Close: Len %d, Bytes %d", s.Len(), s.Bytes())
	}
}

func TestCancelledContext(t *testing.T) {
	s := newStore(t, memstore.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Apply(ctx, "k", func(*backends.Record) backends.Change {
		t.Error("transition called with a cancelled context")
		return backends.Change{}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
