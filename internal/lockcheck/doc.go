// Package lockcheck judges the lock history of counter sessions driven by
// many clients through one or more gateways: the ASP.NET cycle (GetExclusive,
// then PUT with the cookie, retry on 423), a porcupine model of one session's
// lock, and a direct check of the grants (never two holders at once, no lost
// update). The Redis farm tests (integration) and the peering scenarios
// (peering) share it.
//
// # The workload
//
// A counter session's blob is "ctr=<n>"; the empty session that
// stateclient.Insert creates counts as 0. RunCycles starts Clients workers;
// each acquires its session, reads n, PUTs n+1 with its cookie, and counts
// the cycle when the PUT is answered 200.
//
// # Errors
//
// Without Failover a transport error stops the worker and is reported. With
// Failover the worker moves to the next gateway and finds out what happened
// to the request that failed, so that the history stays exact: a PUT whose
// answer was lost is resolved by a GetExclusive (423 with its own cookie: it
// did not run, send it again; anything else: it ran), and a GetExclusive
// whose answer was lost by waiting for a lock that no worker claims (then it
// was granted, and the worker releases it, as ASP.NET does once a lock
// outlives its execution timeout). Such failures are counted, per address.
//
// # Concurrency
//
// RunCycles is safe to call from any goroutine and never calls testing.T.
// The checkers are pure functions.
//
// # Ownership of bytes
//
// Results and histories belong to the caller; nothing is kept after
// RunCycles returns.
//
// # What it does not do
//
// No other workload than the lock cycle (plain reads and removes are not
// modelled), no timing assertions.
package lockcheck
