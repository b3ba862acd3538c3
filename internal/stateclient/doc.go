// Package stateclient is a minimal client of the state protocol for tests
// and load programs: one connection to one gateway that dials again after a
// transport error, and the requests an ASP.NET web server sends.
//
// # Concurrency
//
// A Conn is used by one goroutine at a time. It never calls testing.T, so
// worker goroutines may use it.
//
// # Ownership of bytes
//
// A response's Body is the caller's (a copy of the read buffer).
//
// # Errors
//
// Do returns the transport's error (dial, write, read, a response that does
// not parse) and closes the connection; statuses are answers, not errors.
//
// # What it does not do
//
// Pipelining, retries of requests (a transport error is the caller's to
// judge: the request may or may not have run), and the server's own codec
// beyond package wire.
package stateclient
