// Package wire is the pure codec of the ASP.NET state protocol: it parses
// requests from bytes and encodes responses to bytes, with no sockets, so that
// it can be fuzzed and split at every byte position in tests.
//
// See ../shared/protocol.md §2 for the grammar and the canonical responses.
package wire
