// Package backendtest is the conformance suite that every backend driver runs:
// backendtest.Run(t, harness) with subtests named by behaviour. It also holds a
// controllable clock shared by backend and gateway tests, and a differential
// test that checks a store against the memory store under random protocol
// operations.
//
// A driver's test file looks like:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			Open: func(t *testing.T, dir string, now func() time.Time) backends.Backend { ... },
//			Durable: true,
//			MaxValueSize: 1 << 20,
//		})
//	}
//
// # What it does
//
// The suite checks round trips of every Record field (LockDate to the
// nanosecond, compared with Equal), absence, replacement and deletion, sliding expiry to the
// millisecond on the test Clock (an expired record is invisible at once,
// before any sweep), byte ownership in both directions, binary-safe keys,
// atomicity of concurrent transitions on one key, use after Close and, for
// durable stores, that records and lock state survive a reopen.
//
// Each subtest has its own Clock starting at the current time rounded down to
// the second, so a driver that also sets a native TTL as a safety net (Redis,
// badger) does not see the records as expired in real time. The store must
// take every expiry decision from the now function it was opened with.
//
// # Concurrency
//
// Subtests do not run in parallel with each other. Within a subtest several
// goroutines call Apply on one store; transitions are pure and may be called
// more than once per Apply (the Redis store retries on conflict).
//
// # Ownership of bytes
//
// The suite checks the contract of package backends: the record a transition
// sees is valid only while it runs, Data returned by backends.Get belongs to
// the caller, and the store keeps nothing of the caller's after Apply returns.
//
// # Errors
//
// A broken contract fails the subtest named after the behaviour. The
// differential test logs its seed, and ASPSTATE_DIFF_SEED replays it.
//
// # What it does not do
//
// No timing assertions: benchmarks measure, tests assert behaviour. No
// persistence of deadlines slid by reads (local stores persist them lazily
// and may lose a slide on restart). No capacity (ErrFull) checks: caps are
// driver configuration, tested by the drivers that have them.
package backendtest
