package lockcheck

import (
	"fmt"
	"slices"

	"github.com/anishathalye/porcupine"
)

// Kind is an operation of the workload.
type Kind int

const (
	Acquire Kind = iota // GET Exclusive: acquire
	Set                 // PUT LockCookie: cookie, blob ctr=value
	Release             // GET Exclusive: release, LockCookie: cookie
)

// In is an operation's input. Session selects the partition.
type In struct {
	Session int
	Kind    Kind
	Cookie  int32 // Set, Release: the cookie sent
	Value   int   // Set: the counter written
}

// Out is what the gateway answered: the status, the LockCookie header (the
// granted cookie on a 200 acquire, the holder's on a 423) and, for a 200
// acquire, the counter in the blob (-1: not known, for a grant whose answer
// was lost and found afterwards).
type Out struct {
	Status  int
	Cookie  int32
	Counter int
}

// State is one session: whether it is locked, the last cookie granted (the
// current one while locked) and the counter in the blob.
type State struct {
	Locked  bool
	Cookie  int32
	Counter int
}

// Model is the sequential specification of one session under the workload,
// where the only requests are GetExclusive, the holder's PUT with its cookie
// and the release of a lock whose grant was lost. A session starts as
// stateclient.Insert leaves it: unlocked, cookie 1, empty blob (counter 0).
//
//   - Acquire answered 200 with cookie c and counter n: only if unlocked, c is
//     greater than every cookie granted before, and n is the counter stored
//     (or unknown). It locks with c.
//   - Acquire answered 423 with cookie c: only if locked, by c.
//   - Set(c, v) answered 200: only if locked with c (the workload never PUTs
//     without holding the lock, so a 200 to an unlocked session would mean the
//     lock was lost). It stores v and unlocks.
//   - Set(c, v) answered 423: only if locked by another cookie.
//   - Release(c) answered 200: if locked with c it unlocks; if unlocked
//     nothing changes. Answered 423: only if locked by another cookie.
//
// Anything else (404, 400) is not allowed.
var Model = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			s := op.Input.(In).Session
			by[s] = append(by[s], op)
		}
		var keys []int
		for k := range by {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return State{Cookie: 1} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(State), input.(In), output.(Out)
		switch in.Kind {
		case Acquire:
			switch out.Status {
			case 200:
				ok := !s.Locked && out.Cookie > s.Cookie && (out.Counter == s.Counter || out.Counter == -1)
				return ok, State{Locked: true, Cookie: out.Cookie, Counter: s.Counter}
			case 423:
				return s.Locked && out.Cookie == s.Cookie, s
			}
		case Set:
			switch out.Status {
			case 200:
				ok := s.Locked && in.Cookie == s.Cookie
				return ok, State{Cookie: s.Cookie, Counter: in.Value}
			case 423:
				return s.Locked && in.Cookie != s.Cookie, s
			}
		case Release:
			switch out.Status {
			case 200:
				if !s.Locked {
					return true, s
				}
				return in.Cookie == s.Cookie, State{Cookie: s.Cookie, Counter: s.Counter}
			case 423:
				return s.Locked && in.Cookie != s.Cookie, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(In), output.(Out)
		switch in.Kind {
		case Acquire:
			if out.Status == 200 {
				return fmt.Sprintf("s%d acquire -> 200 cookie %d ctr %d", in.Session, out.Cookie, out.Counter)
			}
			return fmt.Sprintf("s%d acquire -> %d cookie %d", in.Session, out.Status, out.Cookie)
		case Release:
			return fmt.Sprintf("s%d release(cookie %d) -> %d", in.Session, in.Cookie, out.Status)
		}
		return fmt.Sprintf("s%d put(cookie %d, ctr %d) -> %d", in.Session, in.Cookie, in.Value, out.Status)
	},
	DescribeState: func(state any) string {
		s := state.(State)
		return fmt.Sprintf("locked=%v cookie=%d ctr=%d", s.Locked, s.Cookie, s.Counter)
	},
}
