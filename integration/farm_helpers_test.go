package integration

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aspstate/aspstate/frontend/wire"
)

// This file holds what the farm tests share: a reconnecting client that
// worker goroutines can use (they must not call t.Fatal), the blob format of
// the counter sessions, and the two checkers of a lock history: a porcupine
// model of one session's lock, and a direct check of the grants.

// farmConn is one worker's connection to a gateway. A transport error closes
// it; the next request dials again.
type farmConn struct {
	addr string
	c    *client
}

func (f *farmConn) try(r *wire.ClientRequest) (wire.ClientResponse, error) {
	if f.c == nil {
		nc, err := net.DialTimeout("tcp", f.addr, 2*time.Second)
		if err != nil {
			return wire.ClientResponse{}, err
		}
		f.c = &client{conn: nc}
	}
	resp, err := f.c.try(r)
	if err != nil {
		f.close()
	}
	return resp, err
}

func (f *farmConn) close() {
	if f.c != nil {
		f.c.conn.Close()
		f.c = nil
	}
}

func acquireReq(u string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: u, Exclusive: wire.ExclusiveAcquire}
}

func releaseReq(u string, cookie int32) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: u, Exclusive: wire.ExclusiveRelease, LockCookie: num(cookie)}
}

func getReq(u string) *wire.ClientRequest {
	return &wire.ClientRequest{Method: wire.MethodGet, Target: u}
}

// putReq is the PUT a web server sends at the end of a request: with the
// cookie of its GetExclusive, or without one for a new session (cookie < 0).
func putReq(u string, cookie int32, body []byte) *wire.ClientRequest {
	r := &wire.ClientRequest{Method: wire.MethodPut, Target: u, Timeout: num(20), Body: body}
	if cookie >= 0 {
		r.LockCookie = num(cookie)
	}
	return r
}

// A counter session's blob is "ctr=<n>"; the 7-byte empty session a PUT
// with ExtraFlags: 1 creates counts as 0.
func counterBlob(n int) []byte { return []byte("ctr=" + strconv.Itoa(n)) }

func parseCounter(b []byte) (int, error) {
	if bytes.Equal(b, b7) {
		return 0, nil
	}
	s, ok := bytes.CutPrefix(b, []byte("ctr="))
	if !ok {
		return 0, fmt.Errorf("blob %q is not a counter", b)
	}
	return strconv.Atoi(string(s))
}

// ---- The lock model ----

type lockOpKind int

const (
	opAcquire lockOpKind = iota // GET Exclusive: acquire
	opSet                       // PUT LockCookie: cookie, blob ctr=value
)

// lockIn is an operation's input. Session selects the partition.
type lockIn struct {
	Session int
	Kind    lockOpKind
	Cookie  int32 // opSet: the cookie sent
	Value   int   // opSet: the counter written
}

// lockOut is what the gateway answered: the status, the LockCookie header
// (the granted cookie on a 200 acquire, the holder's on a 423) and, for a 200
// acquire, the counter in the blob.
type lockOut struct {
	Status  int
	Cookie  int32
	Counter int
}

// lockState is one session: whether it is locked, the last cookie granted
// (the current one while locked) and the counter in the blob.
type lockState struct {
	Locked  bool
	Cookie  int32
	Counter int
}

// lockModel is the sequential specification of one session under the
// workload of the farm test, where the only requests are GetExclusive and the
// holder's PUT with its cookie. A session starts as the PUT with ExtraFlags: 1
// leaves it: unlocked, cookie 1, empty blob (counter 0).
//
//   - Acquire answered 200 with cookie c and counter n: only if unlocked, c is
//     greater than every cookie granted before, and n is the counter stored.
//     It locks with c.
//   - Acquire answered 423 with cookie c: only if locked, by c.
//   - Set(c, v) answered 200: only if locked with c (the workload never PUTs
//     without holding the lock, so a 200 to an unlocked session would mean the
//     lock was lost). It stores v and unlocks.
//   - Set(c, v) answered 423: only if locked by another cookie.
//
// Anything else (404, 400) is not allowed.
var lockModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		for _, op := range h {
			s := op.Input.(lockIn).Session
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
	Init: func() any { return lockState{Cookie: 1} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(lockState), input.(lockIn), output.(lockOut)
		switch in.Kind {
		case opAcquire:
			switch out.Status {
			case 200:
				ok := !s.Locked && out.Cookie > s.Cookie && out.Counter == s.Counter
				return ok, lockState{Locked: true, Cookie: out.Cookie, Counter: s.Counter}
			case 423:
				return s.Locked && out.Cookie == s.Cookie, s
			}
		case opSet:
			switch out.Status {
			case 200:
				ok := s.Locked && in.Cookie == s.Cookie
				return ok, lockState{Cookie: s.Cookie, Counter: in.Value}
			case 423:
				return s.Locked && in.Cookie != s.Cookie, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(lockIn), output.(lockOut)
		if in.Kind == opAcquire {
			if out.Status == 200 {
				return fmt.Sprintf("s%d acquire -> 200 cookie %d ctr %d", in.Session, out.Cookie, out.Counter)
			}
			return fmt.Sprintf("s%d acquire -> %d cookie %d", in.Session, out.Status, out.Cookie)
		}
		return fmt.Sprintf("s%d put(cookie %d, ctr %d) -> %d", in.Session, in.Cookie, in.Value, out.Status)
	},
	DescribeState: func(state any) string {
		s := state.(lockState)
		return fmt.Sprintf("locked=%v cookie=%d ctr=%d", s.Locked, s.Cookie, s.Counter)
	},
}

// grant is one 200 acquire and the holder's PUT that followed it, with the
// call and return times of both (nanoseconds on the test's monotonic clock).
type grant struct {
	Session        int
	Cookie         int32
	Counter        int // read by the acquire
	AcqCall        int64
	AcqRet         int64
	PutCall        int64
	PutRet         int64
	PutStatus      int
	Written        int // the counter the PUT wrote
	ActionFlagsOne bool
}

// checkGrants is the direct check of one or more sessions' grants. Every
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
func checkGrants(grants []grant, initialCounter int) []string {
	var bad []string
	by := map[int][]grant{}
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
		slices.SortFunc(gs, func(a, b grant) int { return cmpInt64(a.AcqRet, b.AcqRet) })
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
		slices.SortFunc(gs, func(a, b grant) int { return cmpInt64(int64(a.Cookie), int64(b.Cookie)) })
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
			if g.Counter != prevWritten {
				bad = append(bad, fmt.Sprintf("session %d: cookie %d read counter %d, the previous holder left %d",
					s, g.Cookie, g.Counter, prevWritten))
			}
			prevWritten = g.Written
		}
	}
	return bad
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
