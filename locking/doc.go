// Package locking holds the protocol's semantics as pure transitions: given the
// current session record and a request, [Decide] returns what the web server is
// told and what to store. One implementation, no I/O, so every rule of
// protocol.md §3–§4 and each row of its conformance table can be tested without
// a socket (see testdata/*.txt).
//
// # The rules in brief
//
//   - A new item has lock cookie 1; every acquire increments it (wrapping to
//     1 after MaxInt32), so the first lock is 2 and a cookie never repeats.
//     A PUT keeps the stored cookie, even when it changes the timeout.
//   - A locked item answers 423 with its cookie, lock date and age to any read,
//     and to a PUT, release or DELETE without the right cookie. Server-side
//     locks never time out: clients force-release after LockAge reaches their
//     executionTimeout.
//   - A PUT with ExtraFlags: 1 inserts an "uninitialized" item only if the key
//     is absent; otherwise it answers 200 and changes nothing, lock or not.
//     The first 200 read of such an item reports ActionFlags: 1 and clears it.
//   - Sliding expiry is the backend's business: every Apply that finds the
//     record slides it, whatever the transition answers.
//
// # Concurrency
//
// Decide is a pure function and safe anywhere. A backend makes the
// read-modify-write atomic: stores owned by one process hold a per-key lock from
// [KeyLocks] across it; the Redis store compares and sets a version and calls
// the transition again on conflict, which is why Decide must stay deterministic.
//
// # Byte ownership
//
// Result.Body aliases the current record's Data and is valid only while the
// backend's transition runs; the Change may alias the request body. Callers
// copy what they keep.
package locking
