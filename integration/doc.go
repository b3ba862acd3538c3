// Package integration holds black-box tests of the built aspstated binary: it
// is compiled once per test run and started as a real process on
// 127.0.0.1:0, with real files and a real redis-server where a backend needs
// one, and spoken to over real TCP. The package has no non-test code besides
// this comment.
package integration
