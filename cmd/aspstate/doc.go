// Command aspstate is the operator's tool for ASP.NET state servers: anything
// that speaks the protocol of aspnet_state.exe on TCP 42424, aspstated or
// Microsoft's own service.
//
// # What it does
//
//	aspstate get|lock|unlock|put|delete|touch [flags] SESSIONID
//
// One request, as a .NET 4.x web server sends it, against --server
// (default ASPSTATE_SERVER, then 127.0.0.1:42424): get is a plain Get, lock a GetExclusive, unlock a
// ReleaseExclusive (--cookie required), put a Set (body from --file or stdin;
// --timeout minutes, default 20, -1 omits the header; --cookie and
// --extra-flags are sent only when given), delete a Remove (--cookie optional)
// and touch a ResetTimeout (HEAD). The target is built from --app and the
// session id as the client builds it; --key gives a decoded key instead and
// --target a raw target sent unchanged. The tool prints the status line, the
// headers that matter (ActionFlags, LockCookie, LockAge, LockDate as a time,
// Timeout) and the body: as text when it is printable, otherwise as a hex dump.
// With --raw the body goes to stdout unchanged and everything else to stderr.
//
//	aspstate ping [--server ADDR] [--network-timeout D]
//
// A health check: a ResetTimeout for a key no web server uses; exit status 0
// when the server answers the protocol (200 or 404), 1 otherwise (Docker
// reserves every other status for HEALTHCHECK). The Dockerfile and the
// Kubernetes probes use it.
//
//	aspstate decode [flags] SESSIONID
//	aspstate decode --admin ADDR ID
//	aspstate decode --file F
//
// The contents of an ASP.NET session blob (package internal/sessionformat):
// the timeout, then one line per item, "name (type): value", with values of
// the primitive types and, for an object written by BinaryFormatter, its
// class name and size; the static objects after them. A compressed blob is
// inflated. --file reads the blob from a file (- for stdin); with a session
// id (or --key, --target) it is read from --server (default
// $ASPSTATE_SERVER, then 127.0.0.1:42424) with a plain Get: no lock is taken,
// though the Get slides the expiry and clears an uninitialized item's mark as
// any read-only page would. With --admin (or ASPSTATE_ADMIN when --server is
// not given) it is read through the operators' API instead (GET
// /api/session/blob, with the token): no expiry slides, the uninitialized
// mark stays, a locked session can be read; ID is then the key as sessions
// lists it (or --key, --target, or a session id with --app). --json prints
// the decoded session as JSON. Exit status 0 decoded; 1 usage error,
// unreadable file or not a session blob; 2 server unreachable; 3 not found
// (404); 4 locked (423); 5 refused (401/403), as docs/admin-api.md defines
// them. The session id is never printed.
//
// Session tools, through a gateway's operators' API (docs/admin-api.md) at
// --admin (default ASPSTATE_ADMIN), with the token from --token-file (its
// first line) or ASPSTATE_ADMIN_TOKEN:
//
//	aspstate sessions [--locked] [--older-than D] [--prefix P] [--limit N] [--json]
//	aspstate inspect ID [--json]
//	aspstate unlock --force ID [--why TEXT] [--who USER@HOST]
//	aspstate delete ID [--why TEXT] [--who USER@HOST]
//	aspstate export [--out F] [--idle-timeout D] [--admin ADDR | --bbolt FILE | --badger DIR]
//	aspstate import [--in F] [--replace] [--idle-timeout D] [--admin ADDR | --bbolt FILE | --badger DIR]
//
// sessions lists (a table, or the API's JSON), paging through the API 1000
// at a time; inspect shows one record without its blob; unlock --force frees
// a lock whatever its cookie and delete removes a session, locked or not,
// both logged by the gateway with who (default user@host) and why. unlock
// without --force is the protocol's release (--cookie); delete goes through
// the API when --admin or ASPSTATE_ADMIN is set and neither --server nor
// --cookie is given, otherwise it is the protocol's Remove. export writes a
// backends/recordcodec stream of every session with its full record and
// remaining lifetime (to stdout, or to F under a temporary name renamed once
// complete); import loads one (from stdin or F), keeping lock state, cookies,
// lock dates, the uninitialized flag and the remaining lifetime, and skips
// sessions that exist unless --replace. With --bbolt or --badger both open
// the store in this process (backends.Mover: Walk, Install) instead of asking
// a gateway; a store that a running server holds is refused with the store's
// "locked by another process" (bbolt waits one second for its file lock,
// badger's directory lock fails at once). Export and import draw a \r
// progress line on stderr only when stderr is a terminal. Through the API
// they have no overall timeout but fail (exit 2) when no byte moves for
// --idle-timeout (default 60s): none arrives for an export, the gateway takes
// none of an import's stream or sends no answer.
//
//	aspstate bench [flags]
//
// A load generator speaking the protocol: --connections goroutines, each with
// its own connection and one request in flight, for --warmup then --duration.
// Scenarios: read (Get), cycle (GetExclusive, then Set with the cookie: a
// read-write page), mixed (--read-percent Gets, the rest cycles) and contend
// (every connection on one session: GetExclusive, on 423 sleep --poll and try
// again, then Set with the cookie; the blob starts with an 8-byte counter each
// cycle increments, checked at the end against the cycles acknowledged). In
// read, cycle and mixed each connection uses its own share of --sessions, so a
// 423 is an error there. --setup (default true) stores every session before
// the warmup; contend always stores its own fresh session. Latency is recorded
// per request, without allocating, in log-linear histograms owned by each
// connection and merged at the end. It prints requests/s and p50/p99/max
// latency, per operation too; contend adds hand-offs/s and the hand-off
// latency: from the 200 of a holder's Set to the 200 of the next GetExclusive.
// --json prints one JSON line.
// With --ceiling, bench starts a ceiling server inside its own process on
// 127.0.0.1:0 and benches that (convenient, but the two share the CPU: run
// "aspstate ceiling" separately for the real yardstick).
//
//	aspstate ceiling --listen ADDR
//
// A minimal server that answers every request with the same 200 and a 1 KiB
// body (the blob bench stores with the default --payload 1024), built once.
// --listen has no default, so that it never takes a state server's port.
// Benchmarking it shows what a Go server can do on this machine.
//
//	aspstate tap --listen ADDR --upstream ADDR
//
// A relay between web servers and a state server. Bytes go through unchanged
// in both directions. A copy of each chunk is queued, in the order the chunks
// were forwarded, for one logger goroutine per connection that parses and
// prints them, one line per message; a log that cannot keep up skips bytes
// (and says so) rather than hold the traffic back:
//
//	conn 3 > GET /LM/W3SVC/1/ROOT/App(...)/kf51kjsndazux1l0vjlec5jw Exclusive=acquire
//	conn 3 < 200 LockCookie=2 Timeout=20 body=7B (14000000 0000ff)
//
// Bytes that do not parse are printed as a hex dump. Closing either side
// closes the other.
//
// # Concurrency
//
// bench runs one goroutine per connection, each with its own histograms,
// merged when all have stopped; tap runs two copying loops and one logger
// goroutine per relayed connection. Nothing is shared between connections while
// they run.
//
// # Ownership of bytes
//
// Requests are built with package wire into per-connection buffers that are
// reused; responses are parsed in place. The tap's logger gets its own copy
// of each chunk, so logging never holds the relayed bytes back.
//
// # Errors
//
// Exit statuses (docs/admin-api.md), for every command: 0 success; 1 usage
// or other failure (a 400, bench errors); 2 could not reach the server or the
// API, or it could not reach its store or peer (502/503); 3 not found (404);
// 4 locked (423) or the lock changed (409); 5 refused (401/403). Help (help,
// -h, --help) goes to stdout with status 0, errors to stderr. bench counts every transport error, 400 or unexpected
// status and prints the first few.
//
// # What it does not do
//
// decode does not deserialize BinaryFormatter objects, and the tap does not alter,
// delay or inject traffic. Bench does not pipeline: the ASP.NET client never
// does.
package main
