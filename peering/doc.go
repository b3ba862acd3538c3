// Package peering lets gateways that each keep their own store (memory, bbolt,
// badger) serve every session wherever it is kept. Every key has one owner;
// operations travel to it, records stay put except when the membership
// changes.
//
// # Model
//
//   - Members: a static list, the same on every gateway (peering.members).
//     Links between gateways whose lists differ are refused (package link).
//   - View: each member's state (active, leaving, gone, down) with a version.
//     A member changes its own entry when it joins or leaves; an operator's
//     "peers down" changes another's. Views merge entry by entry (higher
//     version wins; at equal versions the later state), a join-semilattice:
//     gateways that have seen the same changes hold the same view in any
//     order, and the epoch (sum of versions, plus a hash) only grows. Every
//     peer message starts with the sender's view and every receiver merges it
//     before deciding anything, so a view spreads with the traffic it affects.
//   - Owner: rendezvous hashing of the key over the active members of the
//     view. No directory, no per-session location state.
//
// # Invariants and why they hold
//
//  1. Only the owner runs an operation. A gateway runs a web server's
//     operation locally only when its view names it the owner; otherwise it
//     forwards the parsed operation with its view. The receiver merges that
//     view and runs it only if it is the owner in the merged view; if not it
//     answers "not owner" with its view, nothing having run, and the sender
//     merges and tries once more. The reply is rendered by the gateway the
//     web server talks to, with its own codec, so bytes are those of one
//     gateway; lock dates come from the owner's clock.
//  2. Client traffic never moves a record. Records move only after a view
//     change: each gateway walks its store and moves what it no longer owns
//     (push), and a new owner asked for a key it lacks first asks the key's
//     owners in the views since the last completed hand-off to move it now
//     (pull), until each reports its hand-off complete. A move is
//     install-then-delete: the receiver's store holds the whole record
//     (blob, timeout, remaining lifetime, flags, lock, cookie, lock date)
//     before the sender deletes its copy, so cookies are never reset or reused.
//  3. No operation of an old view overlaps a move. Local operations hold
//     their view's gate (a read lock) and the key's lock; a view change
//     publishes the new view at once, and the hand-off walk starts only after
//     the old gates have been drained. A pull's move takes the key's lock at
//     the holder, so it waits for an operation of an older view on that key
//     only (waiting for every older operation could close a cycle with a
//     pull such an operation is making).
//  4. A key is moved by one mover at a time (the moving set), and it is read
//     afresh after being claimed, so a pull and a push never send two copies
//     or a stale one. A receiver remembers the keys it took from each sender
//     until that sender's hand-off completes, so a move retried after a lost
//     answer cannot bring back a record removed since.
//  5. An unreachable owner, or an unreachable member that may still hold a
//     key being handed over, fails the request: the frontend closes the web
//     server's connection. Never a 404, never a 200 for a write that may not
//     have happened, never a resend of an operation that may have run (only
//     "not owner" answers and errors before sending are retried). The link
//     layer detects a dead peer within 1.5 s; peering.request_timeout bounds
//     the rest.
//
// # Drain and join
//
// On SIGTERM a gateway marks itself leaving (it then owns nothing and
// forwards everything), pushes its records to their new owners in parallel
// batches, and marks itself gone once its store is empty, within
// peering.drain_timeout. If it cannot finish, it stays "leaving": the records
// stay on a durable store and the log says how many; their sessions fail
// until it returns (or is declared down). A gateway that starts learns the
// view from every member it can reach; if it had left, it bumps its entry to
// active and the others push its range back. A gateway declared down that
// still holds records refuses to start rather than serve sessions the farm
// has since replaced.
//
// # Automatic failover (3 or more members)
//
// A monotone majority scheme on the view, not consensus: a member's death,
// once a majority has voted for it, can never be undone at the same
// incarnation (version of its entry).
//
//   - Votes. Every member keeps, per other member, when it last heard from it
//     (a request or an answer). A member not heard from for
//     peering.dead_after gets this member's vote: the cell Votes[self][x] is
//     set to x's version+1. Only a member writes its own row, cells only grow
//     (the merge takes the maximum), so votes spread with every message and
//     are never withdrawn; a new incarnation of x makes them moot.
//   - Declaration. Any member holding a lease that sees a majority of the
//     configured members voting x down at x's current version, x active, sets
//     x's entry to Down at version+1 (at most once per 10 s per gateway). The
//     merge makes Down win at equal version.
//   - Leases. Each member asks every other for its view every lease/5 (at
//     most 500 ms). An answer whose (merged) view shows no vote by the
//     answerer against this member's current version extends the lease from
//     that member to the time the question was sent. A gateway serves (runs
//     a local or forwarded operation, and again before answering it) only
//     while a majority of the configured members, itself included, hold a
//     lease for it younger than peering.lease. Otherwise the web server's
//     connection is closed.
//
// Why two gateways never serve one key: suppose x is declared down at time D
// and serves at t >= D. The declaration needed a majority S of votes cast at
// or before D; x's lease at t needed a majority M of answers to questions sent
// after t-lease. Some s is in both. s's answer showed no vote, so (votes are
// monotone and a vote and the encoding of an answer are ordered by one mutex)
// s voted at p after that answer, and p >= r + dead_after where r >= t-lease
// is when s received the question. So t < r + lease < r + dead_after <= p <= D:
// a contradiction. New owners serve x's range only under the view where x is
// down, i.e. after D. This assumes clocks that run at about the same rate
// (the margin dead_after - lease absorbs drift), and accepts the unavoidable
// window between the last lease check and the bytes leaving the socket.
//
// A declared-down member stops serving as soon as it learns it (from any
// answer), never hands its records to anyone (its hand-off worker skips, and
// receivers refuse moves and pulls from a member that is down in their view),
// and after holding a lease for dead_after/2 (damping) sets its records aside
// (an export file in peering.aside_dir, or dropped for a memory store) and
// rejoins at a higher version; the others then hand its range back. A
// durable gateway restarted within dead_after collects no votes, keeps its
// range and its records.
//
// With two members no majority can exclude the other: nothing is automatic
// and an operator declares a dead member (aspstate peers down). The majority
// is of the configured members: a farm that has lost half of them (even by
// drains) stops serving.
//
// Known limits: a vote is never withdrawn at an incarnation, so a member
// that was voted down by a minority (a one-sided link failure that healed)
// keeps those votes until it gets a new incarnation; `aspstate peers` shows
// them. A planned restart announcement (peering.restart_grace) is not built.
//
// # The farm as one store (the operators' Mover)
//
// A Node is a backends.Mover for the whole farm, so the operators' API lists,
// inspects, exports and imports sessions the same with peering as without.
// Peek and Install run at the key's owner by the rules of an operation
// (local under the view gate and the key's lock, after a pull if a hand-off
// into this gateway is incomplete; else sent to the owner, with one more try
// after "not owner"). Lifetimes cross the link as remaining durations in the
// record codec and become deadlines on the receiver's clock; absolute times
// never travel, except a lock's date, which is the owner's as always.
//
// Walk walks this gateway's store, keeping the keys it owns, then asks each
// other active member for its records page by page (kindWalk). The stores
// walk hash shards, not an order, so a member cannot resume from a cursor
// key: it keeps an iterator per walk, a goroutine running its store's Walk
// that keeps the keys the member owns and stays one page ahead of the
// caller. Pages are the stores' (backends.WalkPage: 256 records, or past
// 1 MiB of blobs after the record that crossed it), so a member holds at most
// three pages per walk, at most 8 walks at once (one more is refused), and
// drops a walk after its last page, on the caller's "stop" (fn failed or ctx
// ended), after a request out of order, or after a minute without a request
// (the caller died, or its fn stalled that long: its next request then fails
// by name). A page with a blob near the link's 32 MiB frame limit (over the
// default 20 MiB body limit) fails the walk by name. Remaining lifetimes are
// computed when a page is sent. fn runs on
// the caller's goroutine with no lock held. A member that cannot be reached,
// fails, or whose link breaks mid-walk makes Walk return an error naming it;
// a listing is never silently short. A member built before these kinds
// answers "unknown request kind", reported as "does not support walking;
// upgrade it".
//
// What a walk sees. With no view change and every hand-off complete, each
// record present for the whole walk exactly once (records written or
// removed meanwhile may or may not be seen, as with one store): a record is
// kept only by its owner, and each member reports only what it owns. While records are in transit (a view
// changed during the walk, a member is leaving, or a member's hand-off is
// incomplete) a record moved from a member not yet walked to one already
// walked is missed, and one moved the other way is seen twice. Walk then
// passes what it saw and returns ErrWalkUnsettled at the end: an export
// should retry later, a listing may accept it. Each member reports with its
// pages whether its own hand-off is complete, and the caller compares its
// view's epoch at the start and at the end (votes change no ownership and no
// epoch). Records of a member declared down are lost to the farm and not
// walked; a member still leaving holds records no walk sees until it has
// handed them over.
//
// # Concurrency
//
// Node methods are safe for concurrent use. n.mu serialises view changes and
// is never held across I/O; the view gate is held across a local store call
// and, during a hand-off, the pull before it.
//
// # Ownership of bytes
//
// Route's result, and its Body, belong to the caller. A key passed to Route
// is not kept after it returns, so the frontend may lend it (BorrowedKeys).
// Records in flight are copies (Peek), never the store's own bytes.
//
// # Errors
//
// ErrUnreachable (an owner or a holder could not be asked, or is not
// serving), ErrWalkUnsettled (a walk during a hand-off), a store's errors as they are (the frontend maps ErrFull and
// ErrTooLarge to 400, anything else to a closed connection), and the
// configuration errors of Validate, naming the key. Never "not found" for a
// failure.
//
// # What it does not do
//
// No gossip and no consensus library: the member list is static and the view
// is a merge of versioned entries. No Redis backend (gateways on one Redis
// already share every session). No more than 64 members: past a handful,
// Redis is the better tool.
package peering
