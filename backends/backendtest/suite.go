package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Run runs the conformance suite against the store h opens. Each subtest opens
// a fresh store in its own t.TempDir() with its own Clock, so subtests are
// independent and can be selected with -run.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("backendtest: Harness.Open is nil")
	}
	borrows, moves, batches := probe(t, h)
	for _, c := range cases(h, borrows, moves, batches) {
		t.Run(c.name, func(t *testing.T) { c.fn(t, h) })
	}
}

// probe opens a store to see whether it promises backends.BorrowedKeys and
// whether it implements backends.Mover, so that the cases checking those
// only run where they apply (and likewise backends.BatchMover).
func probe(t *testing.T, h Harness) (borrows, moves, batches bool) {
	t.Helper()
	b := h.Open(t, t.TempDir(), NewClock(clockStart()).Now)
	defer b.Close()
	bk, ok := b.(backends.BorrowedKeys)
	_, moves = b.(backends.Mover)
	_, batches = b.(backends.BatchMover)
	return ok && bk.BorrowedKeys(), moves, batches
}

type testCase struct {
	name string
	fn   func(*testing.T, Harness)
}

func cases(h Harness, borrows, moves, batches bool) []testCase {
	cs := []testCase{
		{"NotFound", testNotFound},
		{"PutThenGet", testPutThenGet},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"WholeRecordRoundTrips", testWholeRecordRoundTrips},
		{"TransitionSeesStoredRecord", testTransitionSeesStoredRecord},
		{"ExpiredIsInvisible", testExpiredIsInvisible},
		{"ReadSlidesExpiry", testReadSlidesExpiry},
		{"StoreSetsDeadlineFromNewTimeout", testStoreSetsDeadlineFromNewTimeout},
		{"LockedRecordsExpire", testLockedRecordsExpire},
		{"KeepOnAbsentCreatesNothing", testKeepOnAbsentCreatesNothing},
		{"ReturnedDataIsACopy", testReturnedDataIsACopy},
		{"InputNotRetained", testInputNotRetained},
		{"EmptyAndNilData", testEmptyAndNilData},
		{"LargeValueAtLimit", testLargeValueAtLimit},
		{"BinarySafeKeys", testBinarySafeKeys},
		{"ConcurrentApplyOnOneKey", testConcurrentApplyOnOneKey},
		{"ConcurrentApplyOnManyKeys", testConcurrentApplyOnManyKeys},
		{"TransitionSeesConsistentRecord", testTransitionSeesConsistentRecord},
		{"UseAfterClose", testUseAfterClose},
	}
	if borrows {
		cs = append(cs, testCase{"BorrowedKeysNotKept", testBorrowedKeysNotKept})
	}
	if h.Durable {
		cs = append(cs, testCase{"ReopenPersists", testReopenPersists})
	}
	if moves {
		cs = append(cs, moverCases(h)...)
		if batches {
			cs = append(cs, batchCases(h)...)
		}
	} else {
		cs = append(cs, testCase{"MoverNotImplemented", testMoverNotImplemented})
	}
	return cs
}

// env is one subtest's store, clock and directory.
type env struct {
	t     *testing.T
	h     Harness
	dir   string
	clock *Clock
	b     backends.Backend
	ctx   context.Context
}

// clockStart returns a start time near the real time, whole seconds, so that
// drivers which also give records a native TTL as a safety net (Redis, badger)
// do not see them as long expired. Whole milliseconds everywhere keep the
// deadlines exact for stores with millisecond precision.
func clockStart() time.Time { return time.Now().UTC().Truncate(time.Second) }

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	e := &env{t: t, h: h, dir: t.TempDir(), clock: NewClock(clockStart()), ctx: context.Background()}
	e.b = e.open()
	return e
}

// open opens the store at e.dir and closes it when the test ends.
func (e *env) open() backends.Backend {
	e.t.Helper()
	b := e.h.Open(e.t, e.dir, e.clock.Now)
	if b == nil {
		e.t.Fatal("Harness.Open returned nil")
	}
	e.t.Cleanup(func() {
		if err := b.Close(); err != nil {
			e.t.Errorf("Close: %v", err)
		}
	})
	return b
}

func (e *env) put(key string, rec backends.Record) {
	e.t.Helper()
	if err := backends.Put(e.ctx, e.b, key, rec); err != nil {
		e.t.Fatalf("Put(%q): %v", key, err)
	}
}

func (e *env) get(key string) backends.Record {
	e.t.Helper()
	rec, err := backends.Get(e.ctx, e.b, key)
	if err != nil {
		e.t.Fatalf("Get(%q): %v", key, err)
	}
	return rec
}

func (e *env) mustNotFind(key string) {
	e.t.Helper()
	rec, err := backends.Get(e.ctx, e.b, key)
	if !errors.Is(err, backends.ErrNotFound) {
		e.t.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", key, rec, err)
	}
}

func (e *env) apply(key string, fn backends.Transition) {
	e.t.Helper()
	if err := e.b.Apply(e.ctx, key, fn); err != nil {
		e.t.Fatalf("Apply(%q): %v", key, err)
	}
}

// touch applies a Keep transition (a read) and reports whether it found a record.
func (e *env) touch(key string) bool {
	e.t.Helper()
	var found bool
	e.apply(key, func(cur *backends.Record) backends.Change {
		found = cur != nil
		return backends.Change{Action: backends.Keep}
	})
	return found
}

// rec returns a plain unlocked record with the given data and timeout.
func rec(data string, timeout int32) backends.Record {
	return backends.Record{Data: []byte(data), Timeout: timeout, LockCookie: 1}
}

// diffRecord reports the differences between two records, "" if none.
// LockDate compares with Equal: monotonic readings and locations may differ.
func diffRecord(got, want backends.Record) string {
	var b bytes.Buffer
	if !bytes.Equal(got.Data, want.Data) {
		b.WriteString(" Data: got " + quoteShort(got.Data) + ", want " + quoteShort(want.Data) + ";")
	}
	if got.Timeout != want.Timeout {
		b.WriteString(" Timeout differs;")
	}
	if got.Uninitialized != want.Uninitialized {
		b.WriteString(" Uninitialized differs;")
	}
	if got.Locked != want.Locked {
		b.WriteString(" Locked differs;")
	}
	if got.LockCookie != want.LockCookie {
		b.WriteString(" LockCookie differs;")
	}
	if !got.LockDate.Equal(want.LockDate) {
		b.WriteString(" LockDate: got " + got.LockDate.Format(time.RFC3339Nano) + ", want " + want.LockDate.Format(time.RFC3339Nano) + ";")
	}
	return b.String()
}

func (e *env) wantRecord(key string, want backends.Record) {
	e.t.Helper()
	got := e.get(key)
	if d := diffRecord(got, want); d != "" {
		e.t.Fatalf("Get(%q):%s\n got  %+v\n want %+v", key, d, summary(got), summary(want))
	}
}

// summary replaces long Data by its length, for readable failures.
func summary(r backends.Record) backends.Record {
	if len(r.Data) > 64 {
		r.Data = []byte(quoteShort(r.Data))
	}
	return r
}

func quoteShort(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%q...(%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}
