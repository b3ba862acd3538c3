package redisstore

import "errors"

// ErrConflict: Apply gave up after too many compare-and-set conflicts (other
// gateways kept writing the same key). Nothing was written by this Apply.
var ErrConflict = errors.New("redisstore: too many conflicting writes")
