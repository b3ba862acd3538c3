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
// # Not yet
//
// Without a majority protocol a member's death is declared by an operator
// (aspstate peers down); automatic failover is the next step and keeps these
// invariants (the view's entries and their merge are the place for it).
//
// # Concurrency
//
// Node methods are safe for concurrent use. n.mu serialises view changes and
// is never held across I/O; the view gate is held across a local store call
// and, during a hand-off, the pull before it.
package peering
