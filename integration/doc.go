// Package integration holds black-box tests of the built aspstated binary: it
// is compiled once per test run and started as a real process on
// 127.0.0.1:0, with real files and a real redis-server where a backend needs
// one, and spoken to over real TCP. The package has no non-test code besides
// this comment.
//
// # What it does
//
// Tests cover what only a real process shows: the ASP.NET request sequence
// end to end, configuration (precedence, bad values, the sample configs,
// allowed networks), stopping on signals, the durable stores surviving
// kill -9 and clean restarts with locks intact, locks held across several
// gateways on one Redis, and Redis outages. Request shapes and blobs are
// those of docs/protocol.md.
//
// The peering failover tests (netns_test.go) run each of three gateways in
// a network namespace the test creates (ip netns, veth pairs on a bridge in
// a switch namespace, a /24 of 198.18.0.0/15; nothing is routed off the
// machine) and kill -9, SIGSTOP or cut one off with iptables under the
// ASP.NET cycle load, checked with internal/lockcheck. They need root, ip
// and iptables; namespaces are removed at cleanup, and those of a killed
// run by the next run.
//
// # Concurrency
//
// Each test starts its own processes on their own ports and directories;
// the durability tests run their backends in parallel.
//
// # Ownership of bytes
//
// Not applicable: there is no API.
//
// # Errors
//
// A process that fails to start or answer fails the test with its log; a
// missing redis-server fails (not skips) the tests that need one. The
// network namespace tests skip when not root or without the ip command, and
// the cut test fails without iptables.
//
// # What it does not do
//
// No conformance rows (frontend/conformance_test.go has them, in process)
// and no benchmarks (scripts/ and cmd/aspstate bench).
package integration
