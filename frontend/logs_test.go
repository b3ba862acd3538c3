package frontend

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestKeyHash(t *testing.T) {
	k := []byte("/LM/W3SVC/1/ROOT/app/s1")
	h := keyHash(k)
	if len(h) != 8 || strings.Contains(string(k), h) {
		t.Errorf("keyHash(%q) = %q, want 8 hex digits", k, h)
	}
	if keyHash(k) != h || keyHash([]byte("/other")) == h {
		t.Errorf("keyHash is not a function of the key alone")
	}
	if KeyHash(string(k)) != h {
		t.Errorf("KeyHash(%q) = %q, the logs' hash is %q", k, KeyHash(string(k)), h)
	}
}

// TestRateLog: with an injected clock, the first failure is logged in full,
// the next ones within the interval only counted, and the first one after
// it logged as one summary with the count and the last error; Flush reports
// what is still counted.
func TestRateLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRateLog(log, slog.LevelError, "backend failed")
	r.now = func() time.Time { return now }
	ctx := context.Background()
	lines := func() []string {
		s := strings.TrimSpace(buf.String())
		buf.Reset()
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	fail := func(i int) {
		err := errors.New("boom " + string(rune('a'+i)))
		r.Log(ctx, err, "full line", "err", err)
	}

	fail(0)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], `msg="full line"`) || !strings.Contains(got[0], "boom a") {
		t.Fatalf("first failure: got %q, want one full line", got)
	}
	for i := 1; i <= 4; i++ {
		now = now.Add(2 * time.Second) // 2..8 s: inside the interval
		fail(i)
	}
	if got := lines(); got != nil {
		t.Fatalf("within the interval: got %q, want nothing", got)
	}
	now = now.Add(2 * time.Second) // 10 s: the interval is over
	fail(5)
	got := lines()
	if len(got) != 1 || !strings.Contains(got[0], "backend failed 5 times in the last 10s; last error: boom f") ||
		!strings.Contains(got[0], "count=5") {
		t.Fatalf("after the interval: got %q, want one summary of 5 failures", got)
	}
	now = now.Add(3 * time.Second)
	fail(6)
	fail(7)
	if got := lines(); got != nil {
		t.Fatalf("second interval: got %q, want nothing", got)
	}
	r.Flush(ctx)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "backend failed 2 times in the last 3s; last error: boom h") {
		t.Fatalf("Flush: got %q, want a summary of 2 failures", got)
	}
	r.Flush(ctx)
	if got := lines(); got != nil {
		t.Fatalf("second Flush: got %q, want nothing", got)
	}
	// A failure long after: logged in full again.
	now = now.Add(time.Minute)
	fail(8)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], `msg="full line"`) {
		t.Fatalf("after a quiet minute: got %q, want one full line", got)
	}
}
