package peering

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// A lazy deadline behaves as context.WithDeadline: Err before and after the
// deadline whether or not anything waited, Done closing at it, the parent's
// cancellation passing through, and derived contexts following it.
func TestLazyDeadlineIsADeadline(t *testing.T) {
	d := time.Now().Add(40 * time.Millisecond)
	never := withLazyDeadline(context.Background(), d) // nobody waits on it
	defer never.stop()
	if got, ok := never.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline = %v %v", got, ok)
	}
	if err := never.Err(); err != nil {
		t.Fatalf("Err before the deadline: %v", err)
	}
	if never.made() != nil {
		t.Fatal("Err made a timer")
	}

	waited := withLazyDeadline(context.Background(), d)
	defer waited.stop()
	child, cancelChild := context.WithCancel(waited)
	defer cancelChild()
	select {
	case <-waited.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close at the deadline")
	}
	if time.Now().Before(d) {
		t.Fatal("Done closed before the deadline")
	}
	<-child.Done()
	for name, c := range map[string]context.Context{"unwaited": never, "waited": waited, "derived": child} {
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Err after the deadline = %v", name, err)
		}
	}
	if cause := context.Cause(waited); !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("Cause = %v", cause)
	}

	parent, cancel := context.WithCancel(context.Background())
	far := withLazyDeadline(parent, time.Now().Add(time.Hour))
	defer far.stop()
	cancel()
	if err := far.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("parent cancelled: Err = %v", err)
	}
	select {
	case <-far.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("parent cancelled: Done still open")
	}
	type key struct{}
	v := withLazyDeadline(context.WithValue(context.Background(), key{}, 7), time.Now().Add(time.Hour))
	defer v.stop()
	if v.Value(key{}) != 7 {
		t.Error("Value does not reach the parent")
	}
}

// Contexts derived from a lazy deadline follow it without a goroutine each,
// as they would follow context.WithDeadline's.
func TestLazyDeadlineDerivedWithoutGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	var stops []func()
	for range 100 {
		c := withLazyDeadline(context.Background(), time.Now().Add(time.Hour))
		child, cancel := context.WithCancel(c)
		_ = child
		stops = append(stops, cancel, c.stop)
	}
	if n := runtime.NumGoroutine(); n > before+10 {
		t.Errorf("%d goroutines for 100 derived contexts (%d before)", n, before)
	}
	for _, s := range stops {
		s()
	}
}
