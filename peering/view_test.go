package peering

import (
	"fmt"
	"math/rand/v2"
	"testing"
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
	b[len(b)-1] = 9
	if _, _, err := readView(b, 7); err == nil {
		t.Fatal("an unknown state must be refused")
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
