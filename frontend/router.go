package frontend

import (
	"context"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/locking"
)

// Router runs operations when some keys are owned by other gateways (package
// peering's Node). For a key owned here it calls fn exactly as Backend.Apply
// would and returns a nil result; for a key owned elsewhere it runs req at the
// owner and returns the owner's result, whose Body the caller owns. Its
// errors are mapped like a backend's: an unreachable owner closes the
// connection, never a 404.
type Router interface {
	Route(ctx context.Context, key string, req *locking.Request, fn backends.Transition) (*locking.Result, error)
}
