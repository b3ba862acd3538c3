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

// Install is one record of a BatchMover.InstallBatch: Mover.Install's
// arguments, and its results once InstallBatch has returned nil.
type Install struct {
	Key     string
	Record  Record
	Expires time.Time // absolute, on the store's clock
	Replace bool

	// Stored reports whether this record was stored.
	Stored bool
	// Err is this record's own error: a refusal (ErrTooLarge, a key the
	// store cannot keep), when Stored is false, or a failed write of its
	// part of the batch, after which it may or may not have been stored
	// (as after Install's error). The others of the batch are unaffected.
	Err error
}

// BatchMover is implemented by stores that can install or delete many records
// in one durable write (bbolt: one log append and one fdatasync; badger: one
// transaction). Peering's hand-off uses it for a whole move message, on the
// receiving side (InstallBatch) and on the sending side (RemoveBatch), so a
// durable store pays one sync per message instead of one per record (shared
// by group commit). A store without it gets Install and Apply per record.
//
// Each record keeps exactly the semantics of Mover.Install (or of an Apply
// that deletes): atomic with respect to Apply on the same key, replace=false
// stores only when the key has no live record, a past deadline stores
// nothing, and the batch is as durable as an acknowledged Apply once the call
// returns. Records of one batch are applied in order (a key given twice ends
// with the later one). The batch as a whole is not atomic with respect to
// readers of other keys, nor across a crash unless the store says so.
type BatchMover interface {
	Mover
	// InstallBatch installs every record of batch and fills in its Stored
	// and Err. An error (ErrClosed, a cancelled ctx, a failure to write)
	// leaves every record's outcome unknown: some may have been stored,
	// and Stored and Err mean nothing. It retains nothing of the records'
	// Data.
	InstallBatch(ctx context.Context, batch []Install) error
	// RemoveBatch deletes the record under each key, live or expired; a key
	// with none is not an error. An error (ErrClosed, a cancelled ctx, a
	// failure to write) leaves unknown which were deleted.
	RemoveBatch(ctx context.Context, keys []string) error
}
