// Package locking holds the protocol's semantics as pure transitions: given the
// current session record and a request, [Decide] returns what the web server is
// told and what to store. One implementation, no I/O, so every rule of
// docs/protocol.md §4–§5 and each case of its conformance table (§8) that
// concerns the lock rules can be tested without a socket (testdata/*.txt).
//
// # What it does
//
//   - [Validate] refuses a Set's bad Timeout (outside 1..525600) or ExtraFlags
//     (not 0 or 1) before the key is looked up.
//   - A new item has lock cookie 1; every acquire increments it (wrapping to
//     1 after MaxInt32), so the first lock is 2 and cookies stay positive.
//     A PUT keeps the stored cookie, even when it changes the timeout.
//   - A locked item answers 423 with its cookie, lock date and age to any read,
//     and to a PUT, release or DELETE without the right cookie. Server-side
//     locks never time out: clients force-release after LockAge reaches their
//     executionTimeout.
//   - A PUT with ExtraFlags: 1 inserts an "uninitialized" item only if the key
//     is absent; otherwise it answers 200 and changes nothing, lock or not.
//     The first 200 that reads such an item reports ActionFlags: 1 and clears
//     the flag.
//
// Where the project departs from the reference server (the cookie of a
// timeout-changing PUT, clearing the flag on a storing PUT), docs/protocol.md
// §9 says why. [KeyLocks] is the per-key lock table that stores owned by one
// process use to make a transition atomic.
//
// # Concurrency
//
// Decide and Validate are pure and safe anywhere. A backend makes the
// read-modify-write atomic: stores owned by one process hold a per-key lock
// from [KeyLocks] across it; the Redis store compares and sets a version and
// calls the transition again on conflict, which is why Decide must stay
// deterministic. KeyLocks is safe for concurrent use; never hold two of its
// locks at once, except through LockAll, which takes a batch's locks in one
// global order.
//
// # Ownership of bytes
//
// Result.Body aliases the current record's Data and is valid only while the
// backend's transition runs; the Change may alias the request body. Callers
// copy what they keep.
//
// # Errors
//
// None are returned: a request the rules refuse is a Result with Status 400
// and a Reason for the log. Backend failures are the caller's to handle.
//
// # What it does not do
//
// No I/O, no clock of its own (the caller passes now), no parsing, and no
// expiry: sliding the deadline is the backend's business, done by every
// Apply that finds the record, whatever the transition answers.
package locking
