// Package frontend is the TCP side of the gateway: it accepts web-server
// connections, reads requests with package wire, runs the lock rules of package
// locking inside a backend transition, and writes the answers.
//
// # Connections
//
// One goroutine per connection, owned by the Server's WaitGroup. Requests on a
// connection are answered strictly in order; pipelined requests that arrive
// together get their responses in one write. Each connection reuses its read
// and write buffers, so the request path allocates nothing in steady state
// beyond the key string handed to the backend, and not even that when the
// backend keeps nothing of the key (backends.BorrowedKeys: memstore). When the backend promises that
// record bytes outlive Apply (backends.StableData: memstore), bodies of 512
// bytes and more are not copied into the write buffer: one writev sends the
// response heads and the stored bodies. Reads, writes and the peek go
// through internal/rawconn: raw system calls on Linux, which spare the Go
// scheduler's bookkeeping (BENCHMARKS.md, session 6). Limits (line length, header
// count, body size) are enforced by the parser while bytes arrive. An idle
// connection closes after Config.IdleTimeout. Each connection closes once, with
// a reason that is logged at debug level.
//
// # What the web server is told
//
// Only 200, 400, 404 and 423, byte-exact to docs/protocol.md §3.4. Input that
// cannot be framed closes the connection (after a 400 where §3.6 says so). When
// the backend cannot answer, the connection is closed and the failure logged:
// never a 404 (the web server would start a new, empty session) nor a 200 for a
// write that did not happen. outcomeForError is the one place deciding that.
// A GetExclusive whose client has already closed the socket takes no lock.
//
// # Shutdown
//
// Shutdown closes the listeners, wakes idle connections so they close, lets
// requests in flight (and a request half received, for a short grace) be
// answered, and waits for all connection goroutines.
//
// # What it does not do
//
// No lock rules (package locking), no storage (package backends), no peer
// lookups (package peering).
package frontend
