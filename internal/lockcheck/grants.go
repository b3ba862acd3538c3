package lockcheck

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aspstate/aspstate/internal/stateclient"
)

// CounterBlob is a counter session's blob, "ctr=<n>".
func CounterBlob(n int) []byte { return []byte("ctr=" + strconv.Itoa(n)) }

// ParseCounter reads a counter blob; the empty session counts as 0.
func ParseCounter(b []byte) (int, error) {
	if bytes.Equal(b, stateclient.Empty) {
		return 0, nil
	}
	s, ok := bytes.CutPrefix(b, []byte("ctr="))
	if !ok {
		return 0, fmt.Errorf("blob %q is not a counter", b)
	}
	return strconv.Atoi(string(s))
}

// Grant is one 200 acquire and the holder's PUT that followed it, with the
// call and return times of both (nanoseconds on the caller's monotonic
// clock). A grant whose answer was lost (found afterwards by its holder) has
// Counter -1 and ends with a release instead of a PUT (Written -1: the
// counter is unchanged).
type Grant struct {
	Session        int
	Cookie         int32
	Counter        int // read by the acquire; -1: not known
	AcqCall        int64
	AcqRet         int64
	PutCall        int64
	PutRet         int64
	PutStatus      int
	Written        int // the counter the PUT wrote; -1: released without a write
	ActionFlagsOne bool
}

// CheckGrants is the direct check of one or more sessions' grants. Every
// grant's holder certainly held the lock from its acquire's answer (AcqRet)
// to the sending of its PUT (PutCall): the lock was taken no later than the
// answer and released no earlier than the PUT was sent. So it reports:
//
//   - two grants whose [AcqRet, PutCall] intervals intersect (two holders at
//     the same instant, whatever the clocks' uncertainty);
//   - a cookie granted twice;
//   - in cookie order (the order the lock was granted in), an acquire answered
//     before the previous holder's PUT was sent, or reading another counter
//     than the previous holder wrote (a lost or phantom write);
//   - a holder's PUT that was not answered 200.
//
// It is sound (each report is a real violation) and, given every grant of a
// session, it also checks that the lock was handed on with the data.
func CheckGrants(grants []Grant, initialCounter int) []string {
	var bad []string
	by := map[int][]Grant{}
	for _, g := range grants {
		by[g.Session] = append(by[g.Session], g)
		if g.PutStatus != 200 {
			bad = append(bad, fmt.Sprintf("session %d: PUT with granted cookie %d answered %d", g.Session, g.Cookie, g.PutStatus))
		}
	}
	var sessions []int
	for s := range by {
		sessions = append(sessions, s)
	}
	slices.Sort(sessions)
	for _, s := range sessions {
		gs := by[s]
		// Interval overlap, without trusting cookies.
		slices.SortFunc(gs, func(a, b Grant) int { return cmp.Compare(a.AcqRet, b.AcqRet) })
		var maxEnd int64 = -1 << 62
		var maxEndCookie int32
		for _, g := range gs {
			if g.AcqRet < maxEnd {
				bad = append(bad, fmt.Sprintf("session %d: cookie %d granted at %v while cookie %d was held until at least %v",
					s, g.Cookie, time.Duration(g.AcqRet), maxEndCookie, time.Duration(maxEnd)))
			}
			if g.PutCall > maxEnd {
				maxEnd, maxEndCookie = g.PutCall, g.Cookie
			}
		}
		// Cookie order.
		slices.SortFunc(gs, func(a, b Grant) int { return cmp.Compare(a.Cookie, b.Cookie) })
		prevWritten := initialCounter
		for i, g := range gs {
			if i > 0 {
				p := gs[i-1]
				if p.Cookie == g.Cookie {
					bad = append(bad, fmt.Sprintf("session %d: cookie %d granted twice", s, g.Cookie))
					continue
				}
				if g.AcqRet < p.PutCall {
					bad = append(bad, fmt.Sprintf("session %d: cookie %d answered at %v, before the PUT of cookie %d was sent at %v",
						s, g.Cookie, time.Duration(g.AcqRet), p.Cookie, time.Duration(p.PutCall)))
				}
			}
			if g.Counter >= 0 && g.Counter != prevWritten {
				bad = append(bad, fmt.Sprintf("session %d: cookie %d read counter %d, the previous holder left %d",
					s, g.Cookie, g.Counter, prevWritten))
			}
			if g.Written >= 0 {
				prevWritten = g.Written
			}
		}
	}
	return bad
}
