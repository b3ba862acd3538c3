package peering

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func randomView(r *rand.Rand, n int) *View {
	v := &View{Entries: make([]Entry, n)}
	for i := range v.Entries {
		v.Entries[i] = Entry{Version: uint32(r.IntN(4)), State: State(r.IntN(int(maxState) + 1))}
	}
	return v
}

func equalViews(a, b *View) bool {
	if len(a.Entries) != len(b.Entries) {
		return false
	}
	for i := range a.Entries {
		if a.Entries[i] != b.Entries[i] {
			return false
		}
	}
	return true
}

// Merging must converge whatever order views arrive in, or two gateways that
// saw the same changes could disagree about owners.
func TestMergeIsAJoin(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a, b, c := randomView(r, 5), randomView(r, 5), randomView(r, 5)
		ab, _ := a.Merge(b)
		ba, _ := b.Merge(a)
		if !equalViews(ab, ba) {
			t.Fatalf("not commutative: %v %v", ab, ba)
		}
		abc, _ := ab.Merge(c)
		bc, _ := b.Merge(c)
		a_bc, _ := a.Merge(bc)
		if !equalViews(abc, a_bc) {
			t.Fatalf("not associative")
		}
		aa, changed := a.Merge(a)
		if changed || !equalViews(aa, a) {
			t.Fatalf("not idempotent")
		}
		if ab.Epoch().Sum < a.Epoch().Sum || ab.Epoch().Sum < b.Epoch().Sum {
			t.Fatalf("epoch went backwards")
		}
	}
}

func TestDownBeatsRejoinAtTheSameVersion(t *testing.T) {
	base := &View{Entries: []Entry{{1, Active}, {1, Active}}}
	down := base.With(1, Down)
	rejoin := base.With(1, Active)
	m, _ := rejoin.Merge(down)
	if m.Entries[1].State != Down {
		t.Fatalf("merged %v, want down", m.Entries[1])
	}
	again := m.With(1, Active)
	m2, _ := again.Merge(down)
	if m2.Entries[1].State != Active {
		t.Fatalf("a rejoin at a higher version must win: %v", m2.Entries[1])
	}
}

func TestViewCodecRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	v := randomView(r, 7)
	b := appendView(nil, v)
	got, rest, err := readView(append(b, 9), 7)
	if err != nil || !equalViews(got, v) || len(rest) != 1 {
		t.Fatalf("round trip: %v %v %v", got, rest, err)
	}
	if _, _, err := readView(b, 6); err == nil {
		t.Fatal("a view of another member count must be refused")
	}
	b[len(b)-2] = 9 // the last entry's state, before the restart count (0)
	if _, _, err := readView(b, 7); err == nil {
		t.Fatal("an unknown state must be refused")
	}
}

func randomRestarts(r *rand.Rand, v *View) *View {
	out := &View{Entries: v.Entries, Votes: v.Votes}
	if r.IntN(3) > 0 {
		out.Restarts = make([]uint32, len(v.Entries))
		for i := range out.Restarts {
			out.Restarts[i] = uint32(r.IntN(5))
		}
	}
	return out
}

func sameRestarts(a, b *View) bool {
	for i := range a.Entries {
		if a.restart(i) != b.restart(i) {
			return false
		}
	}
	return true
}

// Restart counters merge by maximum, whatever the order, and change neither
// the entries nor the epoch: a restarting member keeps its range.
func TestRestartsMergeAndKeepTheRange(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		a, b, c := randomRestarts(r, randomView(r, 4)), randomRestarts(r, randomView(r, 4)), randomRestarts(r, randomView(r, 4))
		ab, _ := a.Merge(b)
		ba, _ := b.Merge(a)
		abc, _ := ab.Merge(c)
		bc, _ := b.Merge(c)
		a_bc, _ := a.Merge(bc)
		if !sameRestarts(ab, ba) || !sameRestarts(abc, a_bc) || !equalViews(ab, ba) {
			t.Fatal("restart counters do not merge as a join")
		}
		if aa, changed := a.Merge(a); changed || !sameRestarts(aa, a) {
			t.Fatal("not idempotent")
		}
		for i := range a.Entries {
			if ab.restart(i) != max(a.restart(i), b.restart(i)) {
				t.Fatalf("member %d: %d, want the maximum of %d and %d", i, ab.restart(i), a.restart(i), b.restart(i))
			}
		}
	}
	v := &View{Entries: make([]Entry, 3)}
	going := v.WithRestart(1, false)
	if !going.Restarting(1) || going.Restarting(0) || going.Epoch() != v.Epoch() || !equalViews(going, v) {
		t.Fatalf("announcing a restart: %+v", going)
	}
	if going.WithRestart(1, false) != going {
		t.Fatal("announcing twice must change nothing")
	}
	back := going.WithRestart(1, true)
	if back.Restarting(1) || back.restart(1) != 2 {
		t.Fatalf("back: %+v", back)
	}
	if m, _ := going.Merge(back); m.Restarting(1) {
		t.Fatal("back must win over the announcement")
	}
	if m, _ := back.Merge(going); m.Restarting(1) {
		t.Fatal("a late announcement must not undo the return")
	}
	ms := members(3)
	for k := range 1000 {
		kh := keyHash(fmt.Sprint(k))
		if ownerOf(kh, memberHashes(ms), going) != ownerOf(kh, memberHashes(ms), v) {
			t.Fatal("a restarting member must keep its range")
		}
	}
	// Votes and restarts travel together.
	vv := going.WithVote(0, 2)
	b2 := appendView(nil, vv)
	got, rest, err := readView(append(b2, 7), 3)
	if err != nil || len(rest) != 1 || !got.Restarting(1) || !got.VotedDown(0, 2) || got.Epoch() != vv.Epoch() {
		t.Fatalf("round trip with restarts: %+v %v %v", got, rest, err)
	}
	if _, _, err := readView(b2[:len(b2)-1], 3); err == nil {
		t.Fatal("a truncated restart list must be refused")
	}
}

func members(n int) []Member {
	out := make([]Member, n)
	for i := range out {
		out[i] = Member{ID: fmt.Sprintf("gw%d", i+1), Addr: "127.0.0.1:1"}
	}
	return out
}

// Rendezvous hashing: keys spread evenly, and removing one member moves only
// the keys it owned.
func TestOwnershipSpreadsAndMovesLittle(t *testing.T) {
	ms := members(3)
	mh := memberHashes(ms)
	all := &View{Entries: make([]Entry, 3)}
	without2 := all.With(1, Leaving)
	counts := make([]int, 3)
	const keys = 30000
	for k := range keys {
		key := fmt.Sprintf("/LM/W3SVC/1/ROOT(%d)", k)
		kh := keyHash(key)
		o := ownerOf(kh, mh, all)
		counts[o]++
		o2 := ownerOf(kh, mh, without2)
		if o2 == 1 {
			t.Fatal("a leaving member must own nothing")
		}
		if o != 1 && o2 != o {
			t.Fatalf("key %q moved from %d to %d though its owner stayed", key, o, o2)
		}
	}
	for i, c := range counts {
		if c < keys/3*9/10 || c > keys/3*11/10 {
			t.Fatalf("member %d owns %d of %d keys: uneven %v", i, c, keys, counts)
		}
	}
	none := &View{Entries: []Entry{{1, Gone}, {1, Down}, {1, Leaving}}}
	if o := ownerOf(1, mh, none); o != -1 {
		t.Fatalf("no active member, owner %d", o)
	}
}

// The owner must not depend on the process: a fixed key has a fixed owner.
func TestOwnerIsStableAcrossProcesses(t *testing.T) {
	ms := members(3)
	v := &View{Entries: make([]Entry, 3)}
	got := ""
	for _, k := range []string{"a", "/LM/W3SVC/1/ROOT(x)", "session-0123456789"} {
		got += ms[ownerOf(keyHash(k), memberHashes(ms), v)].ID + " "
	}
	if want := "gw1 gw2 gw2 "; got != want {
		t.Fatalf("owners changed: %q, were %q (changing the hash moves every session of a running farm)", got, want)
	}
}

// A member that joins (owns keys now and did not before) is stamped as
// back, so that requests forwarded to it before it has its lease are tried
// again instead of failing; members that stayed are not stamped, and the
// first view stamps nobody.
func TestRestartTimesStampJoins(t *testing.T) {
	gone := &View{Entries: []Entry{{State: Active}, {State: Active}, {State: Gone}}}
	back := &View{Entries: []Entry{{State: Active}, {State: Active}, {State: Active}}}
	if _, b := restartTimes(back, nil); !b[0].IsZero() || !b[2].IsZero() {
		t.Fatalf("the first view stamped %v", b)
	}
	prev := &viewState{v: gone, restartAt: make([]time.Time, 3), backAt: make([]time.Time, 3)}
	at, b := restartTimes(back, prev)
	if b[2].IsZero() {
		t.Fatal("a member that joined is not stamped as back")
	}
	if !b[0].IsZero() || !b[1].IsZero() || !at[2].IsZero() {
		t.Fatalf("stamped members that did not change: back %v, restart %v", b, at)
	}
}
