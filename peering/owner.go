package peering

import "github.com/cespare/xxhash/v2"

// Ownership is rendezvous (highest random weight) hashing: each member scores
// a key by mixing the key's hash with the member's, and the highest active
// member owns it. Everyone computes the same owner from the same view with no
// directory, and a change of one member moves only the keys that member wins
// or loses.

// keyHash hashes a session key. It must give the same answer on every
// gateway and every version, so it is xxhash (a fixed, documented function),
// never a seeded hash.
func keyHash(key string) uint64 { return xxhash.Sum64String(key) }

// mix is splitmix64's finaliser: it spreads every input bit over the output.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// memberHashes returns the per-member constants mixed into each key's score.
func memberHashes(members []Member) []uint64 {
	out := make([]uint64, len(members))
	for i, m := range members {
		out[i] = keyHash("member:" + m.ID)
	}
	return out
}

// ownerOf returns the index of the active member with the highest score for
// a key hash, or -1 when no member is active.
func ownerOf(kh uint64, mh []uint64, v *View) int {
	best, bestScore := -1, uint64(0)
	for i, h := range mh {
		if !v.Owns(i) {
			continue
		}
		if s := mix(kh ^ h); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// OwnerAmong returns which of the member IDs owns key when all of them are
// active: what every gateway of such a farm computes. Tools use it to aim at
// one owner's keys (aspstate bench --owner).
func OwnerAmong(key string, ids []string) string {
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i].ID = id
	}
	v := &View{Entries: make([]Entry, len(ids))}
	if o := ownerOf(keyHash(key), memberHashes(ms), v); o >= 0 {
		return ids[o]
	}
	return ""
}
