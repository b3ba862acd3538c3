package backends

import "errors"

// Sentinel errors. Drivers translate their library's "no such key" (redis.Nil,
// badger.ErrKeyNotFound, a nil bbolt value) into ErrNotFound at their boundary
// and wrap other failures with %w and a driver prefix.
var (
	// ErrNotFound: no live record under the key. Returned by the helpers in
	// this package; Apply reports absence to the transition as a nil record.
	ErrNotFound = errors.New("backends: not found")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("backends: closed")
	// ErrFull: storing the record would exceed the configured capacity. The
	// gateway answers 400; nothing already stored is evicted.
	ErrFull = errors.New("backends: capacity exceeded")
	// ErrTooLarge: the record's Data is larger than the store accepts.
	ErrTooLarge = errors.New("backends: value too large")
)
