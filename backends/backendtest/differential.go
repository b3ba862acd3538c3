package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/locking"
)

// Environment variables read by RunDifferential. Package-level test flags
// are not possible in a non-test package, hence the environment.
const (
	// EnvDiffSeed replays one sequence: ASPSTATE_DIFF_SEED=<seed from a failure>.
	EnvDiffSeed = "ASPSTATE_DIFF_SEED"
	// EnvDiffSteps sets the number of operations (default diffSteps).
	EnvDiffSteps = "ASPSTATE_DIFF_STEPS"
)

// diffSteps is small enough for a store that fsyncs every write.
const diffSteps = 400

// RunDifferential applies one random sequence of protocol operations (the
// real lock rules of package locking) and clock moves to the store h opens
// and to a memstore oracle on the same clock, and fails at the first
// observable difference: any field of a result, an error, or (every few
// steps) the whole stored record under every key. The seed is logged, and
// printed on failure with the command line that replays it.
func RunDifferential(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("backendtest: Harness.Open is nil")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(EnvDiffSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvDiffSeed, s, err)
		}
		seed = v
	}
	steps := diffSteps
	if s := os.Getenv(EnvDiffSteps); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a positive integer", EnvDiffSteps, s)
		}
		steps = v
	}
	t.Logf("differential seed %d (replay: %s=%d go test -run '^%s$')", seed, EnvDiffSeed, seed, t.Name())

	d := newDiffer(t, seed)
	d.sut = h.Open(t, t.TempDir(), d.clock.Now)
	if d.sut == nil {
		t.Fatal("Harness.Open returned nil")
	}
	t.Cleanup(func() { d.sut.Close() })
	d.run(steps)
}

// newDiffer returns a differ with its clock and memstore oracle; the caller
// opens the store under test on d.clock.
func newDiffer(t *testing.T, seed uint64) *differ {
	d := &differ{
		t:       t,
		seed:    seed,
		rng:     rand.New(rand.NewPCG(seed, 0x61737073746174)),
		clock0:  clockStart(),
		ctx:     context.Background(),
		cookies: map[string]int32{},
		seen:    map[string]int{},
		absent:  map[string]bool{},
	}
	d.clock = NewClock(d.clock0)
	oracle, err := memstore.New(memstore.Config{Now: d.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oracle.Close() })
	d.oracle = oracle
	return d
}

func (d *differ) run(steps int) {
	d.opening()
	for d.step = 0; d.step < steps; d.step++ {
		d.randomStep()
		if d.step%20 == 19 {
			d.compareRecords()
		}
	}
	d.compareRecords()
}

// diffKeys are few, so operations collide on them, and include bytes that
// stores might mishandle.
var diffKeys = []string{"/app/s1", "/app/s2", "k\x00\xff/%2F x"}

type differ struct {
	t           *testing.T
	seed        uint64
	rng         *rand.Rand
	clock       *Clock
	clock0      time.Time // the clock's start, for the history
	ctx         context.Context
	sut, oracle backends.Backend
	step        int
	history     []string         // recent steps, for the failure message
	cookies     map[string]int32 // last cookie the oracle reported per key
	seen        map[string]int   // outcomes reached, for the coverage test
	absent      map[string]bool  // the oracle's last answer says the key is absent
}

func (d *differ) note(format string, args ...any) {
	const keep = 25
	if len(d.history) == keep {
		copy(d.history, d.history[1:])
		d.history = d.history[:keep-1]
	}
	d.history = append(d.history, fmt.Sprintf("%4d  +%-12v ", d.step, d.clock.Now().Sub(d.clock0))+fmt.Sprintf(format, args...))
}

func (d *differ) fail(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("step %d: %s\nrecent steps (step, clock since start, operation):\n%s\nreplay: %s=%d go test -run '^%s$'",
		d.step, fmt.Sprintf(format, args...), strings.Join(d.history, "\n"), EnvDiffSeed, d.seed, d.t.Name())
}

// opening is a fixed start that every seed runs, for behaviour random steps
// reach only by luck: a read slides the expiry, so a 1-minute session read
// after 40 s is still there 40 s later.
func (d *differ) opening() {
	key := diffKeys[0]
	d.do(key, &locking.Request{Op: locking.OpSet, Timeout: locking.N(1), Body: []byte("opening")})
	d.advance(40 * time.Second)
	d.do(key, &locking.Request{Op: locking.OpGet})
	d.advance(40 * time.Second)
	d.do(key, &locking.Request{Op: locking.OpGet})
	d.do(key, &locking.Request{Op: locking.OpRemove})
}

func (d *differ) randomStep() {
	r := d.rng.IntN(100)
	if r < 15 {
		d.advance(d.randomAdvance())
		return
	}
	key := diffKeys[d.rng.IntN(len(diffKeys))]
	d.do(key, d.randomRequest(key))
}

func (d *differ) advance(adv time.Duration) {
	d.clock.Advance(adv)
	d.note("clock +%v", adv)
}

// do applies req to both stores and compares what they answer.
func (d *differ) do(key string, req *locking.Request) {
	d.note("%s %q timeout=%s cookie=%s flags=%s body=%dB", req.Op, key,
		numString(req.Timeout), numString(req.LockCookie), numString(req.ExtraFlags), len(req.Body))
	now := d.clock.Now()
	got, gotErr := d.apply(d.sut, key, req, now)
	want, wantErr := d.apply(d.oracle, key, req, now)
	// The stores must not have kept the request body.
	for i := range req.Body {
		req.Body[i] ^= 0xA5
	}
	if (gotErr != nil) != (wantErr != nil) {
		d.fail("%s %q: error %v, oracle error %v", req.Op, key, gotErr, wantErr)
	}
	if gotErr != nil {
		d.fail("%s %q: both stores failed: %v / %v", req.Op, key, gotErr, wantErr)
	}
	if diff := diffResult(got, want); diff != "" {
		d.fail("%s %q: results differ:%s\n got    %+v\n oracle %+v", req.Op, key, diff, got, want)
	}
	if want.HasLockCookie || want.Status == 423 {
		d.cookies[key] = want.LockCookie
	}
	switch {
	case want.Status == 404 || req.Op == locking.OpRemove && want.Status == 200:
		d.absent[key] = true
	case want.Status != 400:
		d.absent[key] = false
	}
	d.seen[fmt.Sprintf("%s %d", req.Op, want.Status)]++
	if want.ActionFlags {
		d.seen[fmt.Sprintf("%s ActionFlags", req.Op)]++
	}
}

// apply runs the real lock rules on one store, copying what the result
// aliases while the transition runs. The result is reset on every call: a
// store may call the transition more than once.
func (d *differ) apply(b backends.Backend, key string, req *locking.Request, now time.Time) (locking.Result, error) {
	var res locking.Result
	err := b.Apply(d.ctx, key, func(cur *backends.Record) backends.Change {
		r, ch := locking.Decide(cur, req, now)
		r.Body = bytes.Clone(r.Body)
		res = r
		return ch
	})
	return res, err
}

// compareRecords reads every key from both stores. Reading slides both the
// same way, so it does not disturb the comparison that follows.
func (d *differ) compareRecords() {
	d.t.Helper()
	for _, key := range diffKeys {
		got, gotErr := backends.Get(d.ctx, d.sut, key)
		want, wantErr := backends.Get(d.ctx, d.oracle, key)
		if gotErr != wantErr && !(isNotFound(gotErr) && isNotFound(wantErr)) {
			d.fail("reading %q: error %v, oracle error %v", key, gotErr, wantErr)
		}
		if diff := diffRecord(got, want); diff != "" {
			d.fail("stored records under %q differ:%s\n got    %+v\n oracle %+v", key, diff, summary(got), summary(want))
		}
	}
	d.note("compared stored records")
}

func isNotFound(err error) bool { return err == backends.ErrNotFound }

// diffResult lists the differences between two results, "" if none.
func diffResult(got, want locking.Result) string {
	var b strings.Builder
	if !bytes.Equal(got.Body, want.Body) {
		fmt.Fprintf(&b, " Body %s vs %s;", quoteShort(got.Body), quoteShort(want.Body))
	}
	if !got.LockDate.Equal(want.LockDate) {
		fmt.Fprintf(&b, " LockDate %v vs %v;", got.LockDate, want.LockDate)
	}
	got.Body, want.Body = nil, nil
	got.LockDate, want.LockDate = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		b.WriteString(" other fields;")
	}
	return b.String()
}

func (d *differ) randomAdvance() time.Duration {
	ms := func(lo, hi time.Duration) time.Duration {
		// Whole milliseconds: a store may keep deadlines to the millisecond.
		return (lo + time.Duration(d.rng.Int64N(int64(hi-lo)))).Truncate(time.Millisecond)
	}
	switch r := d.rng.IntN(100); {
	case r < 55:
		return ms(0, 30*time.Second)
	case r < 80:
		return ms(time.Minute, 10*time.Minute)
	case r < 95:
		return ms(15*time.Minute, 25*time.Minute) // around the default timeout
	default:
		return ms(time.Hour, 48*time.Hour)
	}
}

func (d *differ) randomRequest(key string) *locking.Request {
	ops := []locking.Op{
		locking.OpGet, locking.OpGet, locking.OpGet, locking.OpGet,
		locking.OpGetExclusive, locking.OpGetExclusive, locking.OpGetExclusive, locking.OpGetExclusive,
		locking.OpRelease, locking.OpRelease, locking.OpRelease,
		locking.OpSet, locking.OpSet, locking.OpSet, locking.OpSet, locking.OpSet,
		locking.OpRemove, locking.OpRemove,
		locking.OpResetTimeout,
	}
	req := &locking.Request{Op: ops[d.rng.IntN(len(ops))]}
	switch req.Op {
	case locking.OpRelease, locking.OpRemove:
		req.LockCookie = d.randomCookie(key)
	case locking.OpSet:
		req.LockCookie = d.randomCookie(key)
		req.Timeout = d.randomTimeout()
		req.ExtraFlags = d.randomFlags()
		if d.absent[key] && d.rng.IntN(2) == 0 {
			// What a web server sends after a 404: create an uninitialized item.
			req.ExtraFlags = locking.N(1)
		}
		req.Body = d.randomBody()
	}
	return req
}

func (d *differ) randomCookie(key string) locking.Num {
	known := d.cookies[key]
	switch r := d.rng.IntN(100); {
	case r < 50:
		return locking.N(known)
	case r < 60:
		return locking.N(max(known+int32(d.rng.IntN(3))-1, 0))
	case r < 75:
		return locking.Num{} // absent
	case r < 82:
		return locking.N(0)
	case r < 87:
		return locking.Num{Present: true} // not a number
	default:
		return locking.N(d.rng.Int32N(5))
	}
}

func (d *differ) randomTimeout() locking.Num {
	switch r := d.rng.IntN(100); {
	case r < 60:
		return locking.N([]int32{1, 2, 5, 20}[d.rng.IntN(4)])
	case r < 80:
		return locking.Num{}
	case r < 85:
		return locking.N(locking.MaxTimeout)
	case r < 90:
		return locking.N(0)
	case r < 95:
		return locking.N(locking.MaxTimeout + 1)
	default:
		return locking.Num{Present: true}
	}
}

func (d *differ) randomFlags() locking.Num {
	switch r := d.rng.IntN(100); {
	case r < 65:
		return locking.Num{}
	case r < 80:
		return locking.N(0)
	case r < 97:
		return locking.N(1)
	default:
		return locking.N(2)
	}
}

func (d *differ) randomBody() []byte {
	n := d.rng.IntN(48)
	if d.rng.IntN(20) == 0 {
		n = 1000 + d.rng.IntN(3000)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(d.rng.Uint32())
	}
	return b
}

func numString(n locking.Num) string {
	switch {
	case !n.Present:
		return "-"
	case !n.Valid:
		return "invalid"
	}
	return strconv.Itoa(int(n.Value))
}
