// Package peeringtest runs an in-process farm for tests: N peering nodes, each
// with its own store and, optionally, a protocol frontend on loopback, linked
// by real mutual-TLS links (package link) over loopback TCP, with a fault
// switchboard per ordered pair of members (package link/linktest): drop,
// delay, one-way loss, partition, pause. Certificates are made in a temp dir.
//
// A member can be stopped without a drain (as kill -9 would leave its peers)
// and started again with the same or a new store, or drained.
//
// # Concurrency
//
// A Cluster's methods are meant for the test goroutine; the nodes and servers
// it runs are safe for concurrent use by clients.
//
// # Ownership of bytes
//
// The members' stores and nodes are the cluster's: Kill, Restart, Drain and
// Close manage them; a test must not close them itself.
//
// # Errors
//
// Setup failures fail the test (t.Fatal); faults are switches, not errors.
//
// # What it does not do
//
// No network namespaces or packet-level faults: it acts on the connections
// the links dial (above TCP); the integration tests run real binaries.
package peeringtest
