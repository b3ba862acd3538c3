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
			out = &View{Entries: append([]Entry(nil), v.Entries...)}
		}
		out.Entries[i] = oe
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
	out := &View{Entries: append([]Entry(nil), v.Entries...)}
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
	}
	return b.String()
}

// appendView encodes a view: a count, then version and state per entry.
func appendView(dst []byte, v *View) []byte {
	dst = append(dst, byte(len(v.Entries)))
	for _, e := range v.Entries {
		dst = binary.BigEndian.AppendUint32(dst, e.Version)
		dst = append(dst, byte(e.State))
	}
	return dst
}

var errBadView = errors.New("peering: malformed view")

// readView decodes a view for n members from the start of b.
func readView(b []byte, n int) (*View, []byte, error) {
	if len(b) < 1 || int(b[0]) != n || len(b) < 1+5*n {
		return nil, nil, errBadView
	}
	v := &View{Entries: make([]Entry, n)}
	p := b[1:]
	for i := range v.Entries {
		st := State(p[4])
		if st > maxState {
			return nil, nil, errBadView
		}
		v.Entries[i] = Entry{Version: binary.BigEndian.Uint32(p), State: st}
		p = p[5:]
	}
	return v, p, nil
}
