// Package redistest starts real redis-server processes for tests: one per
// call to Start, on a free loopback port, with persistence off and its files in
// t.TempDir(). A Server can be stopped, restarted on the same port, and paused
// with SIGSTOP to simulate a stall, which is what the fault tests of
// backends/redisstore and the gateway's integration tests need.
//
// # What it does
//
// Start runs one server (extra redis-server arguments, such as ACL users,
// are passed again on every Restart); StartTLS one that also has a TLS
// port; StartSentinel a sentinel watching a master; StartCluster n nodes in
// cluster mode with the slots spread over them. Server offers Addr, Port,
// Stop, Restart (same port, empty data set), Pause, Resume and Client (a
// go-redis client for setup and inspection). Every server is stopped when
// its test ends; on Linux the kernel also kills it if the test binary dies.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use (a mutex guards the
// process state); tests usually call them from the test goroutine while
// the code under test talks to the server.
//
// # Ownership of bytes
//
// Nothing is shared: the package hands out addresses, ports and clients.
//
// # Errors
//
// Nothing is returned: a failure to start or stop fails the test. If
// redis-server is not on PATH the test fails rather than skips, because a
// skipped fault test is a test that silently never runs.
//
// # What it does not do
//
// No replicas in a cluster, no persistence, no Redis other than the
// redis-server binary on PATH.
package redistest
