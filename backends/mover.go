package backends

import (
	"context"
	"time"
)

// Mover is implemented by every store (memory, bbolt, badger, Redis); a
// farm-wide one (peering's Node) walks every gateway's share. Peering's
// hand-off, export/import and the operators' API (listing, inspecting,
// force-unlocking) use it.
//
// Deadlines are absolute times on the store's clock. A record is live while
// its deadline has not passed; Install treats a deadline at or before now as
// already past. The Redis store implements Mover for export, import and the
// operators' API only: it is Shared, so peering refuses it (several gateways
// share it, so there is nothing to hand off).
type Mover interface {
	// Walk calls fn for every live record with its absolute deadline. rec and
	// rec.Data are valid only during fn. Records written or deleted during the
	// walk may or may not be seen; a key present for the whole walk is seen
	// exactly once. fn may call the store's other methods (Apply, Peek, Install),
	// so Walk must not hold locks they need while fn runs (walk in pages).
	// Walking a million records must not stall concurrent requests. An error
	// from fn stops the walk and is returned.
	//
	// fn must not modify rec.Data (it may be the stored bytes themselves) and
	// must copy what it keeps. Walk does not slide deadlines. A cancelled ctx
	// stops the walk with ctx's error; a closed store gives ErrClosed.
	Walk(ctx context.Context, fn func(key string, rec *Record, expires time.Time) error) error
	// Peek returns a copy of the live record under key and its deadline,
	// without sliding the deadline; ErrNotFound when absent or expired.
	// The returned Data belongs to the caller.
	Peek(ctx context.Context, key string) (Record, time.Time, error)
	// Install stores rec under key with the given absolute deadline (the
	// record's remaining lifetime is kept, not reset to Timeout), atomically
	// with respect to Apply on the same key. Unless replace is set it stores
	// only when the key has no live record. A deadline already past stores
	// nothing. It reports whether it stored. Durable stores make it as durable
	// as an acknowledged Apply (same sync policy).
	//
	// The next Apply that finds the record slides it to now + rec.Timeout as
	// usual. Install retains nothing of rec.Data. Errors are Apply's: ErrClosed,
	// ErrTooLarge, ErrFull, or a failure to write (nothing may be assumed
	// stored).
	Install(ctx context.Context, key string, rec Record, expires time.Time, replace bool) (stored bool, err error)
}

// Shared is implemented by a store that several gateways share (Redis): every
// gateway already sees every record, so peering, which hands records between
// gateways that each own a share, refuses it.
type Shared interface {
	// Shared reports whether the store is shared.
	Shared() bool
}
