package backends

import (
	"context"
	"time"
)

// Mover is implemented by stores that own their records (memory, bbolt,
// badger). Peering's hand-off and export/import use it.
type Mover interface {
	// Walk calls fn for every live record with its absolute deadline. rec and
	// rec.Data are valid only during fn. Records written or deleted during
	// the walk may or may not be seen; a key present for the whole walk is
	// seen exactly once. fn may call the store's other methods, so Walk holds
	// no lock while fn runs (it walks in pages). An error from fn stops the
	// walk and is returned.
	Walk(ctx context.Context, fn func(key string, rec *Record, expires time.Time) error) error
	// Peek returns a copy of the live record under key and its deadline,
	// without sliding the deadline; ErrNotFound when absent or expired.
	Peek(ctx context.Context, key string) (Record, time.Time, error)
	// Install stores rec under key with the given absolute deadline (the
	// record's remaining lifetime is kept, not reset to Timeout), atomically
	// with respect to Apply on the same key. Unless replace is set it stores
	// only when the key has no live record. A deadline already past stores
	// nothing. It reports whether it stored. Durable stores make it as
	// durable as an acknowledged Apply.
	Install(ctx context.Context, key string, rec Record, expires time.Time, replace bool) (stored bool, err error)
}
