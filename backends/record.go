package backends

import (
	"context"
	"time"
)

// Record is everything stored for one session: the opaque blob the web server
// sent, its sliding timeout, the pending "uninitialized" flag and the lock state.
// Lock state is part of the record so that it survives restarts and travels with
// a session moved between peers.
type Record struct {
	// Data is the session blob, returned byte for byte.
	Data []byte
	// Timeout is the sliding expiry in minutes (1..525600).
	Timeout int32
	// Uninitialized is set by a PUT with ExtraFlags: 1 and cleared by the first
	// read that reports ActionFlags: 1.
	Uninitialized bool
	// Locked tells whether a GetExclusive holds the session.
	Locked bool
	// LockCookie is the current lock cookie. It only ever grows (wrapping to 1
	// after MaxInt32), so a cookie is never handed out twice for a session.
	LockCookie int32
	// LockDate is when the current (or last) lock was taken, in UTC. Stores keep
	// it at nanosecond precision.
	LockDate time.Time
}

// DefaultMaxValueSize is the largest Record.Data accepted unless configured
// otherwise, 20 MiB: the stores' default MaxValueSize and the front end's
// default body limit (wire.DefaultLimits).
const DefaultMaxValueSize = 20 << 20

// TTL returns the record's sliding timeout as a duration.
func (r *Record) TTL() time.Duration { return time.Duration(r.Timeout) * time.Minute }

// Action says what a transition wants done with the record it saw.
type Action uint8

const (
	// Keep leaves the record unchanged. If one exists its expiry still slides.
	Keep Action = iota
	// Store writes Change.Record under the key, replacing any record, with a new
	// deadline of now + Change.Record.Timeout.
	Store
	// Delete removes the key. Deleting an absent key is not an error.
	Delete
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case Store:
		return "store"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Change is the result of a transition.
type Change struct {
	Action Action
	// Record is what to store when Action is Store. Its Data may alias the
	// current record's Data or the caller's buffers; the backend copies it.
	Record Record
}

// Transition computes a change from the current live record, nil when the key
// is absent or expired. It must be pure: the Redis store calls it again after a
// conflicting write, so anything it records for the caller must be reset at its
// start. It must not modify cur, and must not keep cur.Data after it returns.
type Transition func(cur *Record) Change

// Backend stores session records. All methods are safe for concurrent use.
type Backend interface {
	// Apply runs fn on the key's current record and applies its change
	// atomically with respect to every other Apply on the same key. Keys are
	// opaque byte strings. Errors: ErrClosed after Close, ErrFull when a Store
	// would exceed a configured capacity (nothing is written), anything else
	// when the store could not answer (nothing may be assumed written).
	Apply(ctx context.Context, key string, fn Transition) error
	// Close releases the store's resources. Apply calls after Close return
	// ErrClosed. Close is idempotent.
	Close() error
}

// StableData is implemented by a Backend whose Record.Data, as a transition
// sees it, stays valid and unchanged after Apply returns, because stored
// bytes are never written in place. The gateway then sends such a body to the
// client straight from the store instead of copying it.
type StableData interface {
	// StableData reports whether the guarantee holds.
	StableData() bool
}

// BorrowedKeys is implemented by a Backend that keeps nothing of the key
// string after Apply returns (it copies what it stores). The gateway then
// passes a key that borrows its read buffer instead of allocating a string
// per request.
type BorrowedKeys interface {
	// BorrowedKeys reports whether the guarantee holds.
	BorrowedKeys() bool
}
