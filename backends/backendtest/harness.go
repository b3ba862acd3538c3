package backendtest

import (
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Harness tells the suite how to open the store under test.
type Harness struct {
	// Open opens the store whose data lives at dir (a fresh directory per
	// subtest; for stores without files, a name that selects the data set, such
	// as a Redis key prefix). Opening the same dir again after Close must find
	// the same data when Durable is set. now is the clock the store must use for
	// expiry. Open fails the test itself on error and registers no cleanup that
	// would close the store twice harmfully (Close must be idempotent anyway).
	Open func(t *testing.T, dir string, now func() time.Time) backends.Backend
	// Durable stores run ReopenPersists.
	Durable bool
	// MaxValueSize is the largest Record.Data the opened store accepts; the
	// suite stores a value of exactly this size.
	MaxValueSize int
}
