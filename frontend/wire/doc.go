// Package wire is the pure codec of the ASP.NET state protocol (the
// HTTP-like protocol aspnet_state.exe speaks on TCP 42424): it parses
// requests from bytes and encodes responses to bytes, with no sockets, so it
// can be fuzzed and split at every byte position in tests. The grammar and
// the canonical responses are in docs/protocol.md §3.
//
// # What it does
//
// Server side: a Parser frames one request at a time from the start of a
// connection's buffer (Parser.Parse), and AppendResponse writes the
// byte-exact canonical responses (200, 400, 404, 423). Client side, for the
// operator tool and tests: AppendRequest, ParseResponse, and ClientTarget,
// which builds the target a .NET 4.x web server sends for a session.
// TicksFromTime and TimeFromTicks convert LockDate's .NET ticks.
//
// Limits are enforced while bytes arrive: a line that is too long, too many
// header lines or a Content-Length above the limit are refused as soon as
// they are certain, before the rest is buffered. Parsing is linear however
// the bytes trickle in, provided the caller keeps the pending request at the
// start of the buffer and only appends to it between calls that return
// ErrIncomplete; Parser.Need says how far to grow the buffer once the head
// is known, so a large body costs one allocation.
//
// The key is the URL-decoded target, as the reference server's
// HttpUtility.UrlDecode gives it (docs/protocol.md §3.2). It is opaque:
// never split on '/'.
//
// # Concurrency
//
// A Parser belongs to one connection and is not safe for concurrent use.
// The functions are safe for concurrent use.
//
// # Ownership of bytes
//
// Request.Target and Request.Body alias the buffer passed to Parse;
// Request.Key aliases the Parser's scratch space. All are valid until the
// next Parse call on that Parser or until the caller reuses the buffer:
// copy what must outlive the request. Body's capacity is capped at its
// length, so appending to it cannot overwrite a pipelined request.
// ClientResponse's slices alias the buffer passed to ParseResponse.
// AppendResponse and AppendRequest append to dst and allocate only when dst
// must grow. In steady state Parse and AppendResponse do not allocate (see
// the AllocsPerRun tests).
//
// # Errors
//
// Parse returns one of three outcomes:
//   - a Request and the bytes consumed; bytes after them are the next
//     pipelined request. Request.Invalid set means "answer 400 and keep the
//     connection" (empty target, PUT without Content-Length);
//   - ErrIncomplete: read more, append, call again;
//   - a *ProtocolError: the input cannot be framed; close the connection,
//     after a 400 when Reply400 is set (unknown method, bad header line,
//     bad or oversized Content-Length, Transfer-Encoding, a limit exceeded).
//
// Numeric headers come back as a locking.Num (Present, Valid, Value), so
// that package locking can tell absent from malformed.
//
// # What it does not do
//
//   - No I/O, deadlines or connection state: package frontend owns sockets.
//   - No protocol semantics: header ranges, required cookies and every status
//     decision belong to package locking.
//   - No chunked bodies, HTTP/2, header continuation lines, Expect:
//     100-continue or leading empty lines: the .NET client sends none.
//   - Keys are byte strings: bytes that are not valid UTF-8 are kept, where
//     the reference's .NET string would hold U+FFFD. Real clients send only
//     ASCII targets, and keeping bytes cannot make distinct targets collide.
package wire
