package lockcheck

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checkers can fail: hand-made histories with two holders at once, a
// reused cookie, a wrong 423 or a lost write are rejected, and a correct one is
// accepted (a checker that accepts everything would make the load tests pass
// vacuously).
func TestCheckersRejectViolations(t *testing.T) {
	acq := func(client int, call, ret int64, status int, cookie int32, ctr int) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: In{Kind: Acquire}, Output: Out{Status: status, Cookie: cookie, Counter: ctr}, Call: call, Return: ret}
	}
	set := func(client int, call, ret int64, cookie int32, v int, status int) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: In{Kind: Set, Cookie: cookie, Value: v}, Output: Out{Status: status}, Call: call, Return: ret}
	}
	grantOf := func(a, s porcupine.Operation) Grant {
		return Grant{Cookie: a.Output.(Out).Cookie, Counter: a.Output.(Out).Counter, AcqCall: a.Call, AcqRet: a.Return,
			PutCall: s.Call, PutRet: s.Return, PutStatus: s.Output.(Out).Status, Written: s.Input.(In).Value}
	}

	// A correct history: client 1's acquire overlaps client 0's PUT, so it
	// may be ordered after it; a 423 while client 0 holds the lock.
	a0, s0 := acq(0, 0, 10, 200, 2, 0), set(0, 20, 30, 2, 1, 200)
	l1 := acq(1, 12, 18, 423, 2, 0)
	a1, s1 := acq(1, 25, 35, 200, 3, 1), set(1, 40, 50, 3, 2, 200)
	good := []porcupine.Operation{a0, l1, s0, a1, s1}
	if res := porcupine.CheckOperationsTimeout(Model, good, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("a correct history: porcupine says %s", res)
	}
	if v := CheckGrants([]Grant{grantOf(a0, s0), grantOf(a1, s1)}, 0); len(v) != 0 {
		t.Fatalf("a correct history: direct check says %v", v)
	}

	// Two holders at once: client 1 is answered 200 (t=15) before client 0
	// sent its PUT (t=20).
	b1, t1 := acq(1, 5, 15, 200, 3, 0), set(1, 40, 50, 3, 1, 200)
	cases := []struct {
		name   string
		ops    []porcupine.Operation
		grants []Grant
	}{
		{"two holders", []porcupine.Operation{a0, b1, s0, t1}, []Grant{grantOf(a0, s0), grantOf(b1, t1)}},
		{"cookie reused", []porcupine.Operation{a0, s0, acq(1, 31, 35, 200, 2, 1), set(1, 40, 50, 2, 2, 200)},
			[]Grant{grantOf(a0, s0), grantOf(acq(1, 31, 35, 200, 2, 1), set(1, 40, 50, 2, 2, 200))}},
		{"lost write", []porcupine.Operation{a0, s0, acq(1, 31, 35, 200, 3, 0), set(1, 40, 50, 3, 1, 200)},
			[]Grant{grantOf(a0, s0), grantOf(acq(1, 31, 35, 200, 3, 0), set(1, 40, 50, 3, 1, 200))}},
		{"423 while unlocked", []porcupine.Operation{a0, s0, acq(1, 31, 35, 423, 2, 0)}, nil},
		{"released by another cookie", []porcupine.Operation{a0, {ClientId: 1, Input: In{Kind: Release, Cookie: 7}, Output: Out{Status: 200}, Call: 12, Return: 14}, acq(1, 15, 18, 200, 3, 0)}, nil},
		{"holder's PUT refused", []porcupine.Operation{a0, set(0, 20, 30, 2, 1, 423)}, []Grant{grantOf(a0, set(0, 20, 30, 2, 1, 423))}},
	}
	for _, tc := range cases {
		if res := porcupine.CheckOperationsTimeout(Model, tc.ops, 10*time.Second); res != porcupine.Illegal {
			t.Errorf("%s: porcupine says %s, want Illegal", tc.name, res)
		}
		if tc.grants != nil && len(CheckGrants(tc.grants, 0)) == 0 {
			t.Errorf("%s: the direct check found nothing", tc.name)
		}
	}
}
