package peering

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A cancel finds its operation whether it arrives while the operation waits
// or before (the two are separate requests on the link); one for another
// operation, or for one already finished, is forgotten after earlyKept.
func TestWatchRegistry(t *testing.T) {
	var r watchRegistry
	now := time.Now()
	ctx, end := r.register(context.Background(), watchKey{1, 7})
	r.cancel(watchKey{2, 7}, now) // another sender's operation 7
	if ctx.Err() != nil {
		t.Fatal("cancelled by another sender's cancel")
	}
	r.cancel(watchKey{1, 7}, now)
	if !errors.Is(context.Cause(ctx), errSenderGone) {
		t.Fatalf("cause %v, want errSenderGone", context.Cause(ctx))
	}
	end()

	r.cancel(watchKey{1, 8}, now) // before its operation waits
	ctx, end = r.register(context.Background(), watchKey{1, 8})
	if !errors.Is(context.Cause(ctx), errSenderGone) {
		t.Fatal("an early cancel was not applied")
	}
	end()
	ctx, end = r.register(context.Background(), watchKey{1, 9})
	end()
	if ctx.Err() == nil || errors.Is(context.Cause(ctx), errSenderGone) {
		t.Fatal("end did not release the operation's context, or cancelled it as given up")
	}
	r.cancel(watchKey{3, 1}, now.Add(2*earlyKept)) // prunes the stale early cancel of {2, 7}
	r.mu.Lock()
	n, left := len(r.early), len(r.ops)
	r.mu.Unlock()
	if n != 1 || left != 0 {
		t.Fatalf("%d early cancels and %d operations kept, want 1 and 0", n, left)
	}
}
