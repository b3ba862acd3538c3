package peering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// State is a member's place in the view.
type State uint8

// The states, in merge order: at equal versions the later state wins, so an
// operator's Down beats a concurrent rejoin at the same version and the
// rejoining member simply bumps its version again.
const (
	// Active members own keys.
	Active State = iota
	// Leaving members own nothing and are handing their records over.
	Leaving
	// Gone members finished a drain: they own nothing and hold nothing.
	Gone
	// Down members were declared dead: what they held is lost to the farm.
	Down
	maxState = Down
)

func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Leaving:
		return "leaving"
	case Gone:
		return "gone"
	case Down:
		return "down"
	}
	return "unknown"
}

// Entry is one member's state and the version it was set at. Versions only
// grow, so merging two views entry by entry (higher version, then later
// state) is commutative, associative and idempotent: every gateway that has
// seen the same changes holds the same view, whatever the order.
type Entry struct {
	Version uint32
	State   State
}

// View is the farm's membership as one gateway knows it: an entry per
// configured member, in the members' (sorted) order. A View is immutable once
// published; changes make a new one.
type View struct {
	Entries []Entry
	// Votes[s*n+x], when non-zero, is 1 + the version of member x that member
	// s voted down (it had heard nothing from x for peering.dead_after). Only
	// s sets its row; cells only grow, so a vote at an incarnation is never
	// withdrawn: a new incarnation of x (a higher version) makes it moot.
	// nil means no votes. Votes do not change the epoch: they own nothing.
	Votes []uint32
	// Restarts[x] counts member x's planned restarts: odd while x is stopped
	// for a restart it announced (peering.restart_grace), even once it is
	// back. Only x sets it, and it only grows (the merge takes the maximum).
	// It changes neither x's entry nor the epoch: a restarting member keeps
	// its range and its version, so votes against it keep counting.
	// nil means none.
	Restarts []uint32
}

// restart returns member i's restart counter (0: never announced one).
func (v *View) restart(i int) uint32 {
	if v.Restarts == nil {
		return 0
	}
	return v.Restarts[i]
}

// Restarting reports whether member i announced a planned restart and has
// not said it is back.
func (v *View) Restarting(i int) bool { return v.restart(i)%2 == 1 }

// WithRestart returns a copy of v in which member i's restart counter says
// it is restarting (back false) or back (back true). It returns v itself
// when the counter already says so.
func (v *View) WithRestart(i int, back bool) *View {
	if v.Restarting(i) != back {
		return v
	}
	out := &View{Entries: v.Entries, Votes: v.Votes, Restarts: make([]uint32, len(v.Entries))}
	copy(out.Restarts, v.Restarts)
	out.Restarts[i]++
	return out
}

// vote returns member s's vote cell about member x (0: none).
func (v *View) vote(s, x int) uint32 {
	if v.Votes == nil {
		return 0
	}
	return v.Votes[s*len(v.Entries)+x]
}

// VotedDown reports whether member s voted member x down at x's current
// version in v.
func (v *View) VotedDown(s, x int) bool {
	return v.vote(s, x) >= v.Entries[x].Version+1
}

// VotesAgainst counts the members that voted member x down at its current
// version.
func (v *View) VotesAgainst(x int) int {
	c := 0
	for s := range v.Entries {
		if v.VotedDown(s, x) {
			c++
		}
	}
	return c
}

// WithVote returns a copy of v in which member s votes member x down at x's
// current version.
func (v *View) WithVote(s, x int) *View {
	n := len(v.Entries)
	out := &View{Entries: v.Entries, Votes: make([]uint32, n*n), Restarts: v.Restarts}
	copy(out.Votes, v.Votes)
	out.Votes[s*n+x] = max(out.Votes[s*n+x], v.Entries[x].Version+1)
	return out
}

// Epoch identifies a view: the sum of versions grows with every change, the
// hash tells two views of the same sum apart.
type Epoch struct {
	Sum  uint64
	Hash uint64
}

func (e Epoch) String() string { return fmt.Sprintf("%d/%04x", e.Sum, e.Hash&0xffff) }

// Epoch returns the view's identity.
func (v *View) Epoch() Epoch {
	var e Epoch
	h := fnv.New64a()
	var b [5]byte
	for _, en := range v.Entries {
		e.Sum += uint64(en.Version)
		binary.LittleEndian.PutUint32(b[:4], en.Version)
		b[4] = byte(en.State)
		h.Write(b[:])
	}
	e.Hash = h.Sum64()
	return e
}

// Merge returns the join of v and o, and whether it differs from v.
func (v *View) Merge(o *View) (*View, bool) {
	if len(o.Entries) != len(v.Entries) {
		return v, false // member lists are checked equal when a link opens
	}
	var out *View
	for i, oe := range o.Entries {
		if !newer(oe, v.Entries[i]) {
			continue
		}
		if out == nil {
			out = &View{Entries: append([]Entry(nil), v.Entries...), Votes: v.Votes, Restarts: v.Restarts}
		}
		out.Entries[i] = oe
	}
	var votes []uint32
	for i, ov := range o.Votes {
		if ov <= v.vote(i/len(v.Entries), i%len(v.Entries)) {
			continue
		}
		if votes == nil {
			votes = make([]uint32, len(v.Entries)*len(v.Entries))
			copy(votes, v.Votes)
		}
		votes[i] = ov
	}
	if votes != nil {
		if out == nil {
			out = &View{Entries: v.Entries, Restarts: v.Restarts}
		}
		out.Votes = votes
	}
	var restarts []uint32
	for i, or := range o.Restarts {
		if or <= v.restart(i) {
			continue
		}
		if restarts == nil {
			restarts = make([]uint32, len(v.Entries))
			copy(restarts, v.Restarts)
		}
		restarts[i] = or
	}
	if restarts != nil {
		if out == nil {
			out = &View{Entries: v.Entries, Votes: v.Votes}
		}
		out.Restarts = restarts
	}
	if out == nil {
		return v, false
	}
	return out, true
}
func newer(a, b Entry) bool {
	return a.Version > b.Version || a.Version == b.Version && a.State > b.State
}

// With returns a copy of v with member i set to state s at a higher version.
func (v *View) With(i int, s State) *View {
	out := &View{Entries: append([]Entry(nil), v.Entries...), Votes: v.Votes, Restarts: v.Restarts}
	out.Entries[i] = Entry{Version: v.Entries[i].Version + 1, State: s}
	return out
}

// Owns reports whether member i owns keys in this view.
func (v *View) Owns(i int) bool { return v.Entries[i].State == Active }

// Holds reports whether member i may still hold records that others own:
// active members and members still draining. Gone and Down members hold
// nothing the farm can get.
func (v *View) Holds(i int) bool {
	s := v.Entries[i].State
	return s == Active || s == Leaving
}

// String renders the view for logs: "gw1=active@3 gw2=leaving@2".
func (v *View) Format(members []Member) string {
	var b strings.Builder
	for i, e := range v.Entries {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s@%d", members[i].ID, e.State, e.Version)
		if v.Restarting(i) {
			b.WriteString("(restarting)")
		}
	}
	return b.String()
}

// appendView encodes a view: a count, the number of non-zero vote cells and
// each (voter, member, value), version and state per entry, then the number
// of non-zero restart counters and each (member, value).
func appendView(dst []byte, v *View) []byte {
	dst = append(dst, byte(len(v.Entries)))
	nv := 0
	for _, c := range v.Votes {
		if c != 0 {
			nv++
		}
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(nv))
	for i, c := range v.Votes {
		if c != 0 {
			dst = append(dst, byte(i/len(v.Entries)), byte(i%len(v.Entries)))
			dst = binary.BigEndian.AppendUint32(dst, c)
		}
	}
	for _, e := range v.Entries {
		dst = binary.BigEndian.AppendUint32(dst, e.Version)
		dst = append(dst, byte(e.State))
	}
	nr := 0
	for _, c := range v.Restarts {
		if c != 0 {
			nr++
		}
	}
	dst = append(dst, byte(nr))
	for i, c := range v.Restarts {
		if c != 0 {
			dst = append(dst, byte(i))
			dst = binary.BigEndian.AppendUint32(dst, c)
		}
	}
	return dst
}

var errBadView = errors.New("peering: malformed view")

// readView decodes a view for n members from the start of b.
func readView(b []byte, n int) (*View, []byte, error) {
	if len(b) < 3 || int(b[0]) != n {
		return nil, nil, errBadView
	}
	nv := int(binary.BigEndian.Uint16(b[1:]))
	p := b[3:]
	if nv > n*n || len(p) < 6*nv+5*n {
		return nil, nil, errBadView
	}
	v := &View{Entries: make([]Entry, n)}
	if nv > 0 {
		v.Votes = make([]uint32, n*n)
		for range nv {
			s, x := int(p[0]), int(p[1])
			if s >= n || x >= n {
				return nil, nil, errBadView
			}
			v.Votes[s*n+x] = binary.BigEndian.Uint32(p[2:])
			p = p[6:]
		}
	}
	for i := range v.Entries {
		st := State(p[4])
		if st > maxState {
			return nil, nil, errBadView
		}
		v.Entries[i] = Entry{Version: binary.BigEndian.Uint32(p), State: st}
		p = p[5:]
	}
	if len(p) < 1 {
		return nil, nil, errBadView
	}
	nr := int(p[0])
	p = p[1:]
	if nr > n || len(p) < 5*nr {
		return nil, nil, errBadView
	}
	if nr > 0 {
		v.Restarts = make([]uint32, n)
		for range nr {
			if int(p[0]) >= n {
				return nil, nil, errBadView
			}
			v.Restarts[p[0]] = binary.BigEndian.Uint32(p[1:])
			p = p[5:]
		}
	}
	return v, p, nil
}
