package locking

import "time"

// Op is one of the protocol's six operations.
type Op uint8

const (
	OpGet          Op = iota + 1 // GET
	OpGetExclusive               // GET + Exclusive: acquire
	OpRelease                    // GET + Exclusive: release + LockCookie
	OpSet                        // PUT
	OpRemove                     // DELETE
	OpResetTimeout               // HEAD
)

func (o Op) String() string {
	switch o {
	case OpGet:
		return "get"
	case OpGetExclusive:
		return "get-exclusive"
	case OpRelease:
		return "release"
	case OpSet:
		return "set"
	case OpRemove:
		return "remove"
	case OpResetTimeout:
		return "reset-timeout"
	}
	return "unknown"
}

// Num is a numeric request header: Present when sent, Valid when it is a
// decimal integer in 0..MaxInt32. Package wire parses headers into it (the
// one definition; the codec imports locking, never the reverse).
type Num struct {
	Value   int32
	Present bool
	Valid   bool
}

// N returns a present, valid Num; a convenience for callers and tests.
func N(v int32) Num { return Num{Value: v, Present: true, Valid: v >= 0} }

// Request is an operation with the headers that matter to it.
type Request struct {
	Op         Op
	Timeout    Num // Set: minutes, 1..525600; absent means DefaultTimeout
	LockCookie Num // Release (required), Set and Remove (optional)
	ExtraFlags Num // Set: 0, or 1 for an uninitialized item
	Body       []byte
	// OnlyIfLocked makes a Release conditional: when the record is not
	// locked it answers StatusNotLocked and changes nothing (the protocol's
	// release answers 200 whatever the cookie and clears the uninitialized
	// flag). Never set from the wire: the operators' force-unlock uses it,
	// so that a lock its holder released meanwhile is not reported freed.
	OnlyIfLocked bool
}

// StatusNotLocked answers a Release with OnlyIfLocked of a record that is
// not locked. Web servers never see it.
const StatusNotLocked = 409

// Result is what the web server is told. Which fields are sent depends on the
// status and operation, as the Has* fields say.
type Result struct {
	Status int // 200, 400, 404 or 423
	// Reason explains a 400, for the log.
	Reason      string
	ActionFlags bool // 200: send "ActionFlags: 1"
	// LockCookie is sent on a 200 when HasLockCookie (GetExclusive) and on 423.
	LockCookie    int32
	HasLockCookie bool
	// Timeout and Body are sent on a 200 for Get and GetExclusive (HasBody).
	// Body aliases the stored record: copy it before the transition returns.
	HasBody bool
	Timeout int32
	Body    []byte
	// LockDate (UTC) and LockAgeSeconds describe the lock on a 423.
	LockDate       time.Time
	LockAgeSeconds int64
}
