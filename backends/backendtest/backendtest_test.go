package backendtest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/backendtest"
)

// naive is a deliberately simple store: one mutex, one map. With no bug
// selected it is correct; each bug is one mistake a real driver could make,
// so the tests below can show that the suite notices it.
type naive struct {
	mu     sync.Mutex // guards recs and closed
	recs   map[string]naiveRec
	closed bool
	now    func() time.Time
	bug    string
}

type naiveRec struct {
	rec      backends.Record
	deadline time.Time
}

func (s *naive) Apply(_ context.Context, key string, fn backends.Transition) error {
	if s.bug == "nul-terminated-keys" {
		key, _, _ = strings.Cut(key, "\x00")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.bug != "open-after-close" {
		return backends.ErrClosed
	}
	now := s.now()
	r, ok := s.recs[key]
	grace := time.Duration(0)
	if s.bug == "expire-late" {
		grace = time.Second
	}
	if ok && now.After(r.deadline.Add(grace)) {
		delete(s.recs, key)
		ok = false
	}
	var cur *backends.Record
	if ok {
		c := r.rec
		cur = &c
		if s.bug != "no-slide" {
			r.deadline = now.Add(r.rec.TTL())
			s.recs[key] = r
		}
	}
	if s.bug == "not-atomic" {
		s.mu.Unlock()
		runtime.Gosched()
	}
	ch := fn(cur)
	if s.bug == "not-atomic" {
		s.mu.Lock()
	}
	switch ch.Action {
	case backends.Delete:
		delete(s.recs, key)
	case backends.Store:
		n := ch.Record
		if s.bug != "retain-input" {
			n.Data = bytes.Clone(n.Data)
		}
		switch s.bug {
		case "lock-date-seconds":
			n.LockDate = n.LockDate.Truncate(time.Second)
		case "drop-uninitialized":
			n.Uninitialized = false
		}
		d := now.Add(n.TTL())
		if s.bug == "deadline-never-earlier" && ok && d.Before(r.deadline) {
			d = r.deadline
		}
		s.recs[key] = naiveRec{rec: n, deadline: d}
	}
	return nil
}

func (s *naive) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// naiveHarness opens naive stores; durable ones keep their data per dir
// across Close and Open, as a file would.
func naiveHarness(bug string) backendtest.Harness {
	var mu sync.Mutex // guards disks
	disks := map[string]map[string]naiveRec{}
	return backendtest.Harness{
		Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend {
			mu.Lock()
			defer mu.Unlock()
			if disks[dir] == nil {
				disks[dir] = map[string]naiveRec{}
			}
			return &naive{recs: disks[dir], now: now, bug: bug}
		},
		Durable:      true,
		MaxValueSize: 1 << 16,
	}
}

func TestCorrectNaiveStorePasses(t *testing.T) {
	backendtest.Run(t, naiveHarness(""))
	t.Run("Differential", func(t *testing.T) { backendtest.RunDifferential(t, naiveHarness("")) })
}

func TestClockAdvances(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	c := backendtest.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now() = %v, want %v", c.Now(), start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(start); got != 90*time.Second {
		t.Fatalf("advanced by %v, want 90s", got)
	}
}

// envBug selects the bug for TestBrokenStoreHelper in a child process.
const envBug = "BACKENDTEST_BUG"

// TestBrokenStoreHelper runs the suite against a broken store. It does
// nothing unless TestSuiteCatchesBugs started it in a child process, which
// expects it to fail.
func TestBrokenStoreHelper(t *testing.T) {
	bug := os.Getenv(envBug)
	if bug == "" {
		return
	}
	t.Run("Run", func(t *testing.T) { backendtest.Run(t, naiveHarness(bug)) })
	if os.Getenv(envBug+"_DIFF") != "" {
		t.Run("Differential", func(t *testing.T) { backendtest.RunDifferential(t, naiveHarness(bug)) })
	}
}

// TestSuiteCatchesBugs runs the suite, in a child process, against stores
// with one bug each and checks that the subtest named for that behaviour
// fails (and the differential test, where the bug shows in protocol results).
func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv(envBug) != "" {
		return // the child of another run
	}
	for _, c := range []struct {
		bug      string
		failing  string // the conformance subtest that must fail
		diffToo  bool   // the differential test must fail too
		diffNote string
	}{
		{"retain-input", "InputNotRetained", true, "bodies are scribbled after each step"},
		{"no-slide", "ReadSlidesExpiry", true, ""},
		{"expire-late", "ExpiredIsInvisible", false, "a random clock rarely lands in the 1 s window"},
		{"lock-date-seconds", "WholeRecordRoundTrips", true, "423 answers carry the lock date"},
		{"drop-uninitialized", "WholeRecordRoundTrips", true, "ActionFlags never comes"},
		{"not-atomic", "ConcurrentApplyOnOneKey", false, "the differential test is sequential"},
		{"open-after-close", "UseAfterClose", false, ""},
		{"nul-terminated-keys", "BinarySafeKeys", false, ""},
		{"deadline-never-earlier", "StoreSetsDeadlineFromNewTimeout", false, ""},
		{"walk-shows-expired", "WalkHidesExpiredAndDeleted", false, "the differential test does not walk"},
		{"walk-wrong-deadline", "WalkSeesEveryRecord", false, ""},
		{"peek-slides", "PeekDoesNotSlide", false, ""},
		{"install-resets-deadline", "InstallKeepsRemainingLifetime", false, ""},
		{"install-ignores-replace", "InstallWithoutReplace", false, ""},
		{"install-never-replaces", "InstallReplace", false, ""},
		{"install-past", "InstallPastDeadline", false, ""},
	} {
		t.Run(c.bug, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), envBug+"="+c.bug, backendtest.EnvDiffSteps+"=1500")
			if c.diffToo {
				cmd.Env = append(cmd.Env, envBug+"_DIFF=1")
			}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with bug %q\n%s", c.bug, out)
			}
			if want := "--- FAIL: TestBrokenStoreHelper/Run/" + c.failing + " "; !bytes.Contains(out, []byte(want)) {
				t.Errorf("bug %q: no %q in the output:\n%s", c.bug, want, out)
			}
			if c.diffToo && !bytes.Contains(out, []byte("--- FAIL: TestBrokenStoreHelper/Differential ")) {
				t.Errorf("bug %q: the differential test did not notice (%s):\n%s", c.bug, c.diffNote, out)
			}
			if c.diffToo && !bytes.Contains(out, []byte(backendtest.EnvDiffSeed+"=")) {
				t.Errorf("bug %q: the differential failure does not print the seed:\n%s", c.bug, out)
			}
		})
	}
}
