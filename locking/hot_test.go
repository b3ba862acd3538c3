package locking

import (
	"testing"
	"time"
	"unsafe"
)

func TestHotSessionsWindows(t *testing.T) {
	h := NewHotSessions(WaitConfig{Hot423s: 3, HotDelay: 25 * time.Millisecond})
	t0 := time.Now()
	for i := 1; i <= 3; i++ {
		if h.Note("a", t0) {
			t.Fatalf("423 %d of a limit of 3 reported hot", i)
		}
	}
	if !h.Note("a", t0.Add(time.Millisecond)) {
		t.Fatal("the 4th 423 within 100ms not reported hot")
	}
	if h.Note("b", t0.Add(2*time.Millisecond)) {
		t.Fatal("another session reported hot: only the hot one is")
	}
	// The next window still sees the previous one, weighted by its overlap.
	if !h.Note("a", t0.Add(HotWindow)) { // 1 + 4
		t.Fatal("a not hot right after the window turned")
	}
	if !h.Note("a", t0.Add(HotWindow+50*time.Millisecond)) { // 2 + 4/2
		t.Fatal("a not hot halfway into the next window")
	}
	if h.Note("a", t0.Add(HotWindow+90*time.Millisecond)) { // 3 + 4*10/100 = 3, not more than 3
		t.Fatal("the previous window's weight is wrong")
	}
	// Quiet for two windows: forgotten.
	if h.Note("a", t0.Add(4*HotWindow)) {
		t.Fatal("a still hot after 300ms of quiet")
	}
	h.mu.Lock()
	n := len(h.cur) + len(h.prev)
	h.mu.Unlock()
	if n != 1 {
		t.Errorf("%d entries kept, want 1 (sessions without recent 423s are forgotten)", n)
	}
}

func TestHotSessionsOffAndHold(t *testing.T) {
	for _, cfg := range []WaitConfig{{}, {Hot423s: 5}, {HotDelay: time.Millisecond}} {
		if h := NewHotSessions(cfg); h != nil {
			t.Errorf("%+v: damping on", cfg)
		}
	}
	var off *HotSessions
	for i := 0; i < 100; i++ {
		if off.Note("a", time.Now()) {
			t.Fatal("nil HotSessions reported a session hot")
		}
	}
	if off.Hold(0) != 0 || off.Delay() != 0 {
		t.Fatal("nil HotSessions holds")
	}
	h := NewHotSessions(WaitConfig{Hot423s: 1, HotDelay: 25 * time.Millisecond})
	for _, tc := range []struct{ elapsed, want time.Duration }{
		{-time.Second, 25 * time.Millisecond},
		{0, 25 * time.Millisecond},
		{10 * time.Millisecond, 15 * time.Millisecond},
		{25 * time.Millisecond, 0},
		{2 * time.Second, 0}, // it already waited (lock wait): not held again
	} {
		if got := h.Hold(tc.elapsed); got != tc.want {
			t.Errorf("Hold(%v) = %v, want %v", tc.elapsed, got, tc.want)
		}
	}
}

func TestHotConfigValidate(t *testing.T) {
	for _, c := range []WaitConfig{{Hot423s: -1}, {HotDelay: -1}, {HotDelay: MaxHotDelay + 1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if c := (WaitConfig{Hot423s: DefaultHot423s, HotDelay: MaxHotDelay}); c.Validate() != nil {
		t.Errorf("%+v refused", c)
	}
}

// The caller's key may borrow a buffer that is reused for the next request:
// a counted session must not take over another key's count.
func TestHotSessionsBorrowedKeys(t *testing.T) {
	h := NewHotSessions(WaitConfig{Hot423s: 2, HotDelay: time.Millisecond, HotWindow: time.Hour})
	buf := []byte("session-a")
	borrowed := unsafe.String(&buf[0], len(buf))
	now := time.Now()
	for i := 0; i < 3; i++ {
		h.Note(borrowed, now)
	}
	copy(buf, "session-b")
	if h.Note(borrowed, now) {
		t.Fatal("session-b reported hot on its first 423: it took session-a's count")
	}
	if !h.Note("session-a", now) {
		t.Fatal("session-a lost its count")
	}
}
