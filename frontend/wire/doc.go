// Package wire is the pure codec of the ASP.NET state protocol (the
// HTTP-like protocol aspnet_state.exe speaks on TCP 42424): it parses
// requests from bytes and encodes responses to bytes, with no sockets, so it
// can be fuzzed and split at every byte position in tests. The grammar and
// the canonical responses are in ../shared/protocol.md §2.
//
// # What it does
//
// Server side: a Parser frames one request at a time from the start of a
// connection's buffer (Parser.Parse) and AppendResponse writes the
// byte-exact canonical responses (200, 400, 404, 423). Client side, for the
// operator tool and tests: AppendRequest, ParseResponse, and ClientTarget,
// which builds the request target a .NET 4.x web server sends for a session.
// TicksFromTime and TimeFromTicks convert the LockDate header's .NET ticks.
//
// Parse reports three kinds of outcome:
//   - a Request, with n bytes consumed; bytes after them are the next
//     pipelined request. Request.Invalid set means "answer 400 and keep the
//     connection" (empty target, PUT without Content-Length);
//   - ErrIncomplete: read more, append, call again. Parser.Need says how big
//     the buffer must grow once the head is known, so a large body costs one
//     allocation;
//   - a *ProtocolError: the input cannot be framed; close the connection,
//     after a 400 when Reply400 is set (unknown method, bad header line,
//     bad or oversized Content-Length, Transfer-Encoding, a limit exceeded).
//
// Limits are enforced while bytes arrive: a line that is too long, too many
// header lines or a Content-Length above the limit are rejected as soon as
// they are certain, before the rest is buffered. Parsing is linear however
// the bytes trickle in, provided the caller keeps the pending request's
// bytes at the start of the buffer and only appends to them between calls
// that return ErrIncomplete.
//
// The request key is the URL-decoded target, as the reference server's
// HttpUtility.UrlDecode gives it (%xx in either hex case, %uXXXX, '+' as a
// space, invalid escapes kept, one leading '/' dropped from a "//" target).
// It is opaque: never split on '/'.
//
// # Concurrency
//
// A Parser belongs to one connection and is not safe for concurrent use.
// The functions are safe for concurrent use.
//
// # Ownership of returned byte slices
//
// Request.Target and Request.Body alias the buffer passed to Parse;
// Request.Key aliases the Parser's scratch space. All are valid until the
// next Parse call on that Parser, or until the caller reuses the buffer,
// whichever is first: copy what must outlive the request (a backend storing
// a body copies it). Body's capacity is capped at its length, so appending
// to it cannot overwrite a pipelined request. ClientResponse's slices alias
// the buffer passed to ParseResponse. AppendResponse and AppendRequest
// append to dst and allocate only when dst must grow.
//
// In steady state Parse and AppendResponse do not allocate (see
// BenchmarkParse, BenchmarkAppendResponse and the AllocsPerRun tests).
//
// # What it deliberately does not do
//
//   - No I/O, deadlines or connection state: package frontend owns sockets.
//   - No protocol semantics: header ranges (Timeout 1..525600, ExtraFlags
//     0/1), required cookies and every status decision belong to package
//     locking. Numeric headers come back as a locking.Num (Present, Valid, Value) so
//     that those rules can tell absent from malformed.
//   - No chunked bodies, no HTTP/2, no header continuation lines, no
//     Expect: 100-continue: the .NET client sends none of them.
//   - No leading empty lines before a request line: the client never sends
//     them, and the connection is closed instead.
//   - Keys are byte strings: bytes that are not valid UTF-8 are kept, where
//     the reference's .NET string would hold U+FFFD. Real clients send only
//     ASCII targets, and keeping bytes cannot make distinct targets collide.
package wire
