// Package link carries requests between the members of a peering mesh over
// mutual TLS 1.3. It is generic: payloads are opaque bytes and a kind byte;
// it knows nothing of sessions (package peering builds on it).
//
// # Connections
//
// For each other member, a Mesh dials one TCP connection, lazily on the
// first Call, and multiplexes its Calls on it by request ID; replies may come
// back in any order. The peer's Calls to us arrive on the connection it
// dialed, accepted by Serve. While a peer is down the link is redialled in the
// background with backoff (100 ms doubling to 2 s), resolving DNS each time.
// TLS reads and writes the socket with raw system calls on Linux
// (rawconn.AsNetConn), so that a forward does not announce its system calls
// to the scheduler (BENCHMARKS.md, "Peer links on raw system calls").
//
// # Security
//
// TLS 1.3 only, client certificates required, both verified against the
// farm CA (CAFile). Every member's certificate names its member ID as a DNS
// SAN: the dialer requires the ID it dialed, the acceptor requires exactly
// one configured member other than itself. After TLS, both sides exchange a
// hello (protocol version, sender ID, which must match its certificate, a
// digest of the member list, and the application's Hello payload); a link
// between members with different member lists is refused and logged at
// ERROR ("member lists differ"). Certificate files are reread when they
// change, at most about once a second, so a rotation needs no restart;
// established links keep the certificates they were made with.
//
// # Errors
//
// The dialer pings every HeartbeatInterval and the acceptor answers; any
// frame counts as life. Nothing received for DeadAfter closes the link; the
// silence is counted in heartbeat ticks, so a pause of this process itself
// (CPU starvation, a container's CPU quota) is not blamed on the peer. When
// a link closes (silence, EOF, reset, a malformed frame) every pending Call
// fails at once: ErrLost if any of its request was written, ErrNotSent if
// none was. Every error from Call wraps exactly one of ErrNotSent (the peer
// certainly did not get the request: retrying elsewhere is safe) and ErrLost
// (it may have run: never retry blindly), and names the peer and the cause.
// A Call ends with its context or at its deadline; the deadline is kept by a
// sweep of the link's pending calls every 10 ms (deadline.go), not by a
// timer per call, and ends the call up to 10 ms before it, never after.
//
// # Frames
//
// Length-prefixed binary frames (see frame.go); every length is checked
// against MaxFrame before allocating. Messages over 64 KiB go out in chunks
// interleaved round-robin with other messages, so a 20 MiB transfer delays a
// small request by one chunk, not by the whole transfer. Messages sent while
// a write is under way leave together in the next write (writer.go): under
// load, one system call carries several; a lone request is written at once.
//
// # Concurrency
//
// A Mesh is safe for concurrent use. Each request is handled on its own
// goroutine, at most 256 at once per link; beyond that the caller gets
// ErrNotSent (busy). Close waits for every goroutine, handlers included
// (they get a cancelled ctx).
//
// # Ownership of bytes
//
// The payload passed to a Handler and the reply returned by Call belong to
// the receiver. The payload given to Call must not be modified: it is read
// until written, which, after ErrLost, may be after Call has returned.
//
// # What it does not do
//
// No membership changes (the member list is fixed per Mesh), no retries, no
// ordering between Calls, no plaintext mode.
package link
