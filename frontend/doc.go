// Package frontend is the TCP side of the gateway: it accepts web-server
// connections, reads requests with package wire, runs the lock rules of package
// locking inside a backend transition, and writes the answers.
//
// # What it does
//
// Server.Serve accepts connections (backing off on temporary accept errors)
// and serves each one until the client leaves, it stays idle for
// Config.IdleTimeout, or the input cannot be framed. Requests on a connection
// are answered strictly in order; pipelined requests that arrive together get
// their responses in one write. Limits (line length, header count, body size)
// are enforced by the parser while bytes arrive. Config.AllowedNetworks and
// Config.MaxConnections refuse connections at once. Shutdown closes the
// listeners, wakes idle connections so they close, lets requests in flight
// (and a request half received, for a short grace) be answered, and waits for
// every connection goroutine.
//
// Counters for operators (Server.Stats, Server.Requests; metrics.go): each
// connection counts its answers by operation and status, and with
// Config.RequestTiming their durations, with uncontended atomic adds to
// counters of its own; a scrape sums them over the open connections and the
// totals of closed ones. SetAllowedNetworks replaces the allow-list at run
// time (SIGHUP).
//
// The web server is told only 200, 400, 404 and 423, byte-exact to
// docs/protocol.md §3.4. A GetExclusive whose client has already closed the
// socket takes no lock (docs/protocol.md §8, case 57).
//
// # Concurrency
//
// Server methods are safe for concurrent use. One goroutine serves each
// connection, owned by the Server's WaitGroup together with the Serve loops.
// Reads, writes and the peek go through internal/rawconn (raw system calls on
// Linux; BENCHMARKS.md, session 6). Each connection closes once, with a reason
// logged at debug level.
//
// # Ownership of bytes
//
// Each connection reuses its read and write buffers, so the request path
// allocates nothing in steady state beyond the key string handed to the
// backend. Two optional backend promises remove copies:
//
//   - backends.BorrowedKeys (memstore, boltstore, redisstore): the key passed
//     to Apply borrows the read buffer instead of being a new string.
//   - backends.StableData (memstore, redisstore): stored bodies of 512 bytes
//     and more are not copied into the write buffer; one writev sends the
//     response heads and the stored bodies (TCP connections only).
//
// badgerstore makes neither promise and gets copies.
//
// # Errors
//
// Input that cannot be framed closes the connection, after a 400 where
// docs/protocol.md §3.6 says so. When the backend cannot answer, the
// connection is closed and the failure logged: never a 404 (the web server
// would start a new, empty session) nor a 200 for a write that did not
// happen. A capacity refusal (backends.ErrFull, backends.ErrTooLarge) is a
// 400. outcomeForError is the one place that maps backend errors.
//
// # What it does not do
//
// No lock rules (package locking), no parsing (package wire), no storage
// (package backends), no peer lookups. It does not break locks or expire
// sessions: clients release stale locks and backends expire records.
package frontend
