package peering

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering/link"
)

var (
	// errNotServing: this gateway is starting, leaving or gone; it ran nothing.
	errNotServing = errors.New("peering: this gateway is not serving")
	// errNotOwner: the receiver does not own the key in its view; nothing ran.
	errNotOwner = errors.New("peering: receiver does not own the key")
	// ErrUnreachable: the key's owner (or a gateway that may hold the record)
	// could not be reached. The operation did not run there, or may have:
	// either way the client's connection is closed, never answered 404 or 200.
	ErrUnreachable = errors.New("peering: owner unreachable")
)

// Transport carries calls between members: *link.Mesh in production. A call
// ends with ctx or, when it is not zero, at deadline. Its errors wrap
// link.ErrNotSent or link.ErrLost.
type Transport interface {
	Call(ctx context.Context, deadline time.Time, peer string, kind byte, payload []byte) (byte, []byte, error)
}

// Node is one gateway's peering: it routes each operation to the key's owner,
// serves operations forwarded to it, and hands records over when the view
// changes. It implements frontend.Router.
type Node struct {
	cfg     Config
	log     *slog.Logger
	members []Member
	self    int
	mh      []uint64 // member hashes for ownership
	store   backends.Backend
	mover   backends.Mover
	tr      Transport
	mesh    *link.Mesh // nil when a test supplies the Transport

	mu   sync.Mutex // serialises view changes (adopt); never held across I/O
	view atomic.Pointer[viewState]

	serving atomic.Bool // set once the view is synced at start; cleared by Close or a declaration of this member's death
	started atomic.Bool // Start has finished its own checks
	fo      failover    // votes, leases, rejoin (failover.go)
	rs      restarts    // planned restarts (restart.go)

	// keyLocks serialises, per key, a local operation (with the pull before
	// it) and a pull's move of that key out: a record is never moved while an
	// operation of an older view is still changing it.
	keyLocks *locking.KeyLocks

	movingMu sync.Mutex               // guards moving
	moving   map[string]chan struct{} // keys being moved out; closed when done

	receivedMu sync.Mutex                  // guards received
	received   map[int]map[string]struct{} // per source: keys taken in by moves in this hand-off
	kick       chan struct{}               // wakes the hand-off worker
	selfDone   atomic.Pointer[viewState]   // the view whose hand-off this node completed

	walks walkRegistry // walks served for other members (walk.go)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // hand-off worker and broadcasts

	stats Stats

	// Watched forwards (cancel.go): IDs of this member's, the ones waiting
	// here, and the members that do not know kindOpWatched.
	watchIDs  atomic.Uint64
	watches   watchRegistry
	unwatched []atomic.Bool
}

// Stats are counters for `aspstate peers` and metrics.
type Stats struct {
	Forwards        atomic.Uint64 // operations sent to their owner
	ForwardFailures atomic.Uint64 // of which failed (client connection closed)
	Served          atomic.Uint64 // operations run here for another gateway
	NotOwner        atomic.Uint64 // retries after a peer answered with a newer view
	MovedOut        atomic.Uint64 // records handed to their new owner
	MovedIn         atomic.Uint64 // records taken in from a previous owner
	Pulls           atomic.Uint64 // records asked for ahead of the hand-off
	Held            atomic.Uint64 // requests held while their owner restarted
}

// viewState is a published view with what the node derived from it.
type viewState struct {
	v     *View
	epoch Epoch
	// enc is v as appendView writes it: a peer message that starts with
	// these bytes carries this very view, so it needs no decoding or merge.
	enc []byte
	// gate is read-locked by every local operation under this view. A view
	// change write-locks the old gate once, to wait for operations that
	// started under it, before records move.
	gate sync.RWMutex
	// drained is closed once operations of every older view have finished.
	drained chan struct{}
	// history holds the views since the last completed hand-off, newest
	// last: for a key missing here, the owners it had in them may hold it.
	history []*View
	// pending[i] is set while member i may still hold records this node owns
	// under v (until i reports its hand-off for v complete).
	pending []atomic.Bool
	// changed is closed when a newer view is published.
	changed chan struct{}
	// restartAt[i]: when this node learned of member i's latest announced
	// restart; backAt[i]: when it learned that i was back (restart.go).
	restartAt, backAt []time.Time
}

// maxHistory bounds the views remembered for pulls; beyond it every pending
// member is asked.
const maxHistory = 8

// New returns a node for the configured member over store, which must
// implement backends.Mover and not be backends.Shared (Redis). Start it with
// Start.
func New(cfg Config, store backends.Backend) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mover, ok := store.(backends.Mover)
	if sh, shared := store.(backends.Shared); !ok || shared && sh.Shared() {
		return nil, errors.New("peering: the backend cannot hand records over (peering needs memory, bbolt or badger; Redis already shares state)")
	}
	c := cfg.withDefaults()
	members, _ := ParseMembers(c.Members)
	n := &Node{
		cfg: c, log: c.Logger.With("component", "peering"), members: members,
		unwatched: make([]atomic.Bool, len(members)),
		mh:        memberHashes(members), store: store, mover: mover,
		moving: map[string]chan struct{}{}, received: map[int]map[string]struct{}{}, keyLocks: locking.NewKeyLocks(),
		kick: make(chan struct{}, 1),
	}
	for i, m := range members {
		if m.ID == c.Self {
			n.self = i
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.rs.waits, n.rs.stopWaits = context.WithCancel(context.Background())
	n.initFailover()
	initial := &View{Entries: make([]Entry, len(members))}
	vs := n.newViewState(initial, nil)
	close(vs.drained)
	n.view.Store(vs)
	return n, nil
}

// SetTransport replaces the link layer (tests). Call before Start.
func (n *Node) SetTransport(t Transport) { n.tr = t }

// Members returns the configured members, sorted by ID.
func (n *Node) Members() []Member { return n.members }

// Self returns this gateway's member ID.
func (n *Node) Self() string { return n.members[n.self].ID }

func (n *Node) newViewState(v *View, prev *viewState) *viewState {
	vs := &viewState{v: v, epoch: v.Epoch(), enc: appendView(nil, v), drained: make(chan struct{}),
		pending: make([]atomic.Bool, len(v.Entries)), changed: make(chan struct{})}
	vs.restartAt, vs.backAt = restartTimes(v, prev)
	if prev != nil {
		if prev.complete() {
			vs.history = []*View{prev.v}
		} else {
			vs.history = append(append([]*View(nil), prev.history...), prev.v)
			if len(vs.history) > maxHistory {
				vs.history = vs.history[len(vs.history)-maxHistory:]
			}
		}
	}
	for i := range vs.pending {
		vs.pending[i].Store(i != n.self && v.Holds(i) && prev != nil)
	}
	return vs
}

// complete reports whether no member may still hold records owned here.
func (vs *viewState) complete() bool {
	for i := range vs.pending {
		if vs.pending[i].Load() {
			return false
		}
	}
	return true
}

// Start opens the peer listener, learns the farm's view from the members it
// can reach (within the request timeout), rejoins if this member had left,
// and starts serving.
func (n *Node) Start(ctx context.Context) error {
	if n.tr == nil {
		peers := map[string]string{}
		for _, m := range n.members {
			peers[m.ID] = m.Addr
		}
		mesh, err := link.New(link.Config{
			Self: n.Self(), Members: peers,
			CAFile: n.cfg.TLS.CAFile, CertFile: n.cfg.TLS.CertFile, KeyFile: n.cfg.TLS.KeyFile,
			Handler: n.handle, Hello: n.hello, OnHello: n.onHello, OnLink: n.onLink,
			Dial: n.cfg.Dial, Logger: n.cfg.Logger,
		})
		if err != nil {
			return err
		}
		ln := n.cfg.Listener
		if ln == nil {
			if ln, err = net.Listen("tcp", n.cfg.Listen); err != nil {
				mesh.Close()
				return fmt.Errorf("peering.listen: %w", err)
			}
		}
		n.mesh, n.tr = mesh, mesh
		n.wg.Add(1)
		go func() { defer n.wg.Done(); mesh.Serve(ln) }()
	}
	n.syncView(ctx)
	vs := n.view.Load()
	if st := vs.v.Entries[n.self].State; st != Active {
		if st == Down {
			empty, err := n.storeEmpty(ctx)
			if err != nil {
				return err
			}
			if !empty {
				if _, mem := n.store.(*memstore.Store); !mem && n.cfg.AsideDir == "" {
					return fmt.Errorf("peering: member %s was declared down and its store still holds records that the farm has since replaced; set peering.aside_dir to set them aside for export, or move the data aside and start again with an empty store", n.Self())
				}
				if _, err := n.setAside(ctx); err != nil {
					return err
				}
			}
		}
		// Serve before the others learn that this member is back, or their
		// first forwards would find it not serving.
		n.serving.Store(true)
		n.log.Info("rejoining the farm", "was", st.String())
		n.change(Active)
	}
	n.serving.Store(true)
	n.started.Store(true)
	n.comeBack()
	n.wg.Add(2)
	go n.handoffWorker()
	go n.rejoinWorker()
	if n.fo.auto {
		for i := range n.members {
			if i != n.self {
				n.wg.Add(1)
				go n.leaseLoop(i)
			}
		}
		n.wg.Add(1)
		go n.monitor()
		// Serve once a majority answers (bounded: a lone gateway starts, and
		// serves when the others come).
		deadline := time.Now().Add(n.cfg.RequestTimeout)
		for !n.hasLease() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	n.kickHandoff()
	n.log.Info("peering started", "self", n.Self(), "view", n.view.Load().v.Format(n.members),
		"epoch", n.view.Load().epoch.String())
	return nil
}

// syncView asks every other member for its view, in parallel, and merges the
// answers. Members that do not answer in time are skipped: a farm must be able
// to start one gateway at a time.
func (n *Node) syncView(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range n.members {
		if i == n.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			_, _, err := n.call(ctx, i, kindView, appendView(nil, n.view.Load().v))
			if err != nil {
				n.log.Info("member not reachable at start", "member", m.ID, "err", err)
			} else if n.view.Load().v.Entries[n.self].State == Active {
				// A gateway back from a restart holds a lease before the
				// others release the requests they held for it.
				n.renewLease(i, sent)
			}
		}()
	}
	wg.Wait()
}

func (n *Node) storeEmpty(ctx context.Context) (bool, error) {
	stop := errors.New("stop")
	err := n.mover.Walk(ctx, func(string, *backends.Record, time.Time) error { return stop })
	if errors.Is(err, stop) {
		return false, nil
	}
	return err == nil, err
}

// change sets this member's own state and tells the others.
func (n *Node) change(s State) *viewState {
	n.mu.Lock()
	vs := n.adoptLocked(n.view.Load().v.With(n.self, s))
	n.mu.Unlock()
	// The answers count towards the lease: a gateway that rejoins holds one
	// as soon as the others have taken it back, before any forward reaches it.
	sent := time.Now()
	n.callAllThen(n.ctx, kindView, appendView(nil, vs.v), func(i int) { n.renewLease(i, sent) })
	return vs
}

// DeclareDown marks a member dead on an operator's word: its range takes new
// sessions, and what it held is lost to the farm.
func (n *Node) DeclareDown(id string) error {
	for i, m := range n.members {
		if m.ID != id {
			continue
		}
		if i == n.self {
			return errors.New("peering: a gateway cannot declare itself down; stop it instead")
		}
		n.mu.Lock()
		cur := n.view.Load().v
		if cur.Entries[i].State == Down {
			n.mu.Unlock()
			return nil
		}
		n.adoptLocked(cur.With(i, Down))
		n.mu.Unlock()
		n.log.Warn("member declared down by an operator; its sessions are lost to the farm", "member", id)
		n.callAll(n.ctx, kindView, appendView(nil, n.view.Load().v))
		return nil
	}
	return fmt.Errorf("peering: no member %q", id)
}

// merge adopts what o adds to the current view.
func (n *Node) merge(o *View) *viewState {
	cur := n.view.Load()
	if _, changed := cur.v.Merge(o); !changed {
		return cur
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.adoptLocked(o)
}

// adoptLocked publishes the merge of the current view and o. n.mu is held.
func (n *Node) adoptLocked(o *View) *viewState {
	cur := n.view.Load()
	merged, changed := cur.v.Merge(o)
	if !changed {
		return cur
	}
	back := n.backLocked(merged)
	if back {
		merged = merged.WithRestart(n.self, true)
	}
	vs := n.newViewState(merged, cur)
	n.view.Store(vs)
	close(cur.changed)
	if back {
		n.tellBack(vs)
	}
	if merged.Entries[n.self].State == Down && cur.v.Entries[n.self].State != Down {
		n.selfDown()
	}
	n.receivedMu.Lock()
	n.receivedMu.Unlock()
	// Operations that started under the old view finish before records move.
	go func() {
		<-cur.drained
		cur.gate.Lock()
		cur.gate.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
		close(vs.drained)
	}()
	n.log.Info("view changed", "epoch", vs.epoch.String(), "view", merged.Format(n.members))
	n.kickHandoff()
	return vs
}

// enter returns the current view with its gate read-locked; the caller
// unlocks it when its local operation is done.
func (n *Node) enter() *viewState {
	for {
		vs := n.view.Load()
		vs.gate.RLock()
		if n.view.Load() == vs {
			return vs
		}
		vs.gate.RUnlock()
	}
}

func (n *Node) owner(vs *viewState, key string) int { return ownerOf(keyHash(key), n.mh, vs.v) }

// BorrowedKeys: the node keeps no key after a call returns, so the gateway may
// lend it when the store would.
func (n *Node) BorrowedKeys() bool {
	bk, ok := n.store.(backends.BorrowedKeys)
	return ok && bk.BorrowedKeys()
}

// Route runs a web server's operation: here through fn when this gateway owns
// the key (the caller's transition, exactly as without peering), or at the
// owner, returning its result (whose Body the caller owns). A peer that
// answers with a newer view gets one more try, since nothing ran there.
func (n *Node) Route(ctx context.Context, key string, req *locking.Request, fn backends.Transition) (*locking.Result, error) {
	if err := n.canServe(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		vs := n.enter()
		owner := n.owner(vs, key)
		if owner == n.self {
			err := n.applyLocal(ctx, vs, key, fn)
			vs.gate.RUnlock()
			if err == nil {
				// Paused or cut off while it ran: the others may have taken
				// the range over. The web server gets a closed connection.
				if lerr := n.canServe(); lerr != nil {
					return nil, lerr
				}
			}
			if errors.Is(err, errNotOwner) && attempt == 0 {
				n.stats.NotOwner.Add(1)
				continue
			}
			return nil, err
		}
		vs.gate.RUnlock()
		if owner < 0 {
			return nil, fmt.Errorf("%w: no member is active", ErrUnreachable)
		}
		if held, err := n.awaitRestart(ctx, owner); err != nil {
			return nil, err
		} else if held {
			attempt-- // the view changed meanwhile: look again
			continue
		}
		res, err := n.forward(ctx, vs, owner, key, req)
		if err != nil && n.retryRestarted(ctx, owner, err) {
			attempt--
			continue
		}
		if errors.Is(err, errNotOwner) && attempt == 0 {
			n.stats.NotOwner.Add(1)
			continue
		}
		return res, err
	}
}

// applyLocal runs fn on the local store. While a hand-off into this node is
// incomplete, a key missing here is first asked of the members that owned it
// in the views since, so that the record arrives before the operation runs.
func (n *Node) applyLocal(ctx context.Context, vs *viewState, key string, fn backends.Transition) error {
	defer n.keyLocks.Lock(key).Unlock()
	if !vs.complete() {
		if err := n.pullIfMissing(ctx, vs, key); err != nil {
			return err
		}
	}
	return n.store.Apply(ctx, key, fn)
}

// forward sends the operation to member owner and decodes its answer.
func (n *Node) forward(ctx context.Context, vs *viewState, owner int, key string, req *locking.Request) (*locking.Result, error) {
	n.stats.Forwards.Add(1)
	// The link keeps the deadline without a timer of its own (link.Mesh.Call).
	deadline := time.Now().Add(n.cfg.RequestTimeout + n.opWait(req.Op))
	var kind byte
	var body []byte
	var err error
	if gone := n.watchable(ctx, owner, req); gone != nil {
		// The web server's connection may close while this waits at the
		// owner: then ctx is cancelled, and the owner is told (cancel.go).
		wctx, stop := watchClient(ctx, gone)
		defer stop()
		ctx = wctx
		id := n.watchIDs.Add(1)
		kind, body, err = n.callBy(ctx, deadline, owner, kindOpWatched, encodeWatchedOp(vs.enc, id, key, req))
		if err != nil && clientGone(ctx) {
			n.sendCancel(owner, id)
			return nil, fmt.Errorf("%w (forwarded to %s)", locking.ErrClientGone, n.members[owner].ID)
		}
		if err == nil && kind == kindFailed && len(body) > 0 && body[0] == failOther && string(body[1:]) == unknownKind {
			// A member from before kindOpWatched: nothing ran there.
			n.unwatched[owner].Store(true)
			kind, body, err = n.callBy(ctx, deadline, owner, kindOp, encodeOp(vs.enc, key, req))
		}
	} else {
		kind, body, err = n.callBy(ctx, deadline, owner, kindOp, encodeOp(vs.enc, key, req))
	}
	if err != nil {
		n.stats.ForwardFailures.Add(1)
		return nil, err
	}
	switch kind {
	case kindResult:
		res, err := decodeResult(body)
		if err != nil {
			n.stats.ForwardFailures.Add(1)
			return nil, fmt.Errorf("peering: answer from %s: %w", n.members[owner].ID, err)
		}
		return &res, nil
	case kindNotOwner:
		return nil, fmt.Errorf("%w (%s)", errNotOwner, n.members[owner].ID)
	default:
		n.stats.ForwardFailures.Add(1)
		return nil, n.failure(owner, kind, body)
	}
}

// failure turns a kindFailed answer (or an unexpected kind) into an error the
// frontend maps exactly as it would the owner's own store error.
func (n *Node) failure(from int, kind byte, body []byte) error {
	id := n.members[from].ID
	if kind != kindFailed || len(body) < 1 {
		return fmt.Errorf("peering: unexpected answer %d from %s", kind, id)
	}
	msg := string(body[1:])
	switch body[0] {
	case failFull:
		return fmt.Errorf("peering: %s: %w", id, backends.ErrFull)
	case failTooLarge:
		return fmt.Errorf("peering: %s: %w", id, backends.ErrTooLarge)
	case failNotServing:
		// Nothing ran: the sender may try once more with the view it merged.
		return fmt.Errorf("%w: %s is not serving (%s): %w: %w", ErrUnreachable, id, msg, errNotOwner, errNotServing)
	}
	return fmt.Errorf("peering: %s's store failed: %s", id, msg)
}

// call sends a request to member i, merges the view that starts every
// answer, and returns the kind and the rest of the answer.
func (n *Node) call(ctx context.Context, i int, kind byte, payload []byte) (byte, []byte, error) {
	return n.callBy(ctx, time.Time{}, i, kind, payload)
}

// callBy is call bounded also by deadline, when it is not zero.
func (n *Node) callBy(ctx context.Context, deadline time.Time, i int, kind byte, payload []byte) (byte, []byte, error) {
	if n.tr == nil {
		return 0, nil, fmt.Errorf("%w: peering not started", ErrUnreachable)
	}
	rk, reply, err := n.tr.Call(ctx, deadline, n.members[i].ID, kind, payload)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.members[i].ID, err)
	}
	n.hear(i)
	_, _, rest, err := n.hearView(reply)
	if err != nil {
		return 0, nil, fmt.Errorf("peering: answer from %s: %w", n.members[i].ID, err)
	}
	return rk, rest, nil
}

// hearView reads the view that starts every peer message and merges it into
// this node's. It returns the view read, the node's view after the merge, and
// the rest of the message. A message carrying the node's own view (the
// usual case) is recognised by its bytes and costs no decoding.
func (n *Node) hearView(b []byte) (*View, *viewState, []byte, error) {
	if cur := n.view.Load(); bytes.HasPrefix(b, cur.enc) {
		return cur.v, cur, b[len(cur.enc):], nil
	}
	v, rest, err := readView(b, len(n.members))
	if err != nil {
		return nil, nil, nil, err
	}
	return v, n.merge(v), rest, nil
}

// hello is the payload of a link handshake: the view, and whether this
// node's hand-off for it is complete.
func (n *Node) hello() []byte {
	vs := n.view.Load()
	b := appendView(nil, vs.v)
	if n.selfDone.Load() == vs {
		return append(b, 1)
	}
	return append(b, 0)
}

func (n *Node) onHello(peer string, payload []byte) {
	i := n.index(peer)
	v, rest, err := readView(payload, len(n.members))
	if i < 0 || err != nil {
		return
	}
	vs := n.merge(v)
	n.kickLease(i) // a new link: renew the lease from it without waiting a tick
	if len(rest) == 1 && rest[0] == 1 && vs.v.Epoch() == v.Epoch() {
		n.peerComplete(vs, i)
	}
}

func (n *Node) onLink(peer string, up bool) {
	if up {
		n.log.Info("peer link up", "member", peer)
	} else {
		n.log.Warn("peer link down", "member", peer)
	}
}

func (n *Node) index(id string) int {
	for i, m := range n.members {
		if m.ID == id {
			return i
		}
	}
	return -1
}

// handle answers a peer's request. Every request starts with the sender's
// view, merged first, so the decision below uses the newer of the two.
func (n *Node) handle(ctx context.Context, from string, kind byte, payload []byte) (byte, []byte) {
	src := n.index(from)
	if src < 0 || src == n.self {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed request")
	}
	v, cur, rest, err := n.hearView(payload)
	if err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed request")
	}
	n.hear(src)
	if cur.v.Entries[src].State == Down && (kind == kindMove || kind == kindPull) {
		// A member declared down never hands its old records to anyone.
		return kindFailed, encodeFailed(cur.v, failNotServing, "sender was declared down")
	}
	timeout := n.cfg.RequestTimeout
	if kind == kindOp || kind == kindOpWatched {
		timeout += n.cfg.Waits.Duration() // a forwarded Get may wait for the lock (wait.go)
	}
	lctx := withLazyDeadline(ctx, time.Now().Add(timeout))
	defer lctx.stop()
	ctx = lctx
	switch kind {
	case kindOp:
		return n.serveOp(ctx, rest, nil)
	case kindOpWatched:
		if len(rest) < 8 {
			return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed operation")
		}
		return n.serveOp(ctx, rest[8:], &watchKey{src, binary.BigEndian.Uint64(rest)})
	case kindCancelOp:
		return n.serveCancel(src, rest)
	case kindMove:
		return n.serveMove(ctx, src, rest)
	case kindPull:
		return n.servePull(ctx, src, rest)
	case kindView:
		return kindView, appendView(nil, n.view.Load().v)
	case kindWalk:
		return n.serveWalk(ctx, src, rest)
	case kindPeek:
		return n.servePeek(ctx, rest)
	case kindInstall:
		return n.serveInstall(ctx, rest)
	case kindComplete:
		cur := n.view.Load()
		if cur.epoch == v.Epoch() {
			n.peerComplete(cur, src)
		}
		return kindView, appendView(nil, cur.v)
	}
	return kindFailed, encodeFailed(n.view.Load().v, failOther, unknownKind)
}

// unknownKind is the failure message for a request kind this member does
// not know (a newer member's): the sender may fall back (cancel.go).
const unknownKind = "unknown request kind"

// serveOp runs a forwarded operation if this gateway owns the key, with the
// lock rules, its own store and its own clock, and returns the result.
func (n *Node) serveOp(ctx context.Context, b []byte, watch *watchKey) (byte, []byte) {
	key, req, err := decodeOp(b)
	if err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed operation")
	}
	n.rs.inflight.Add(1)
	defer n.rs.inflight.Add(-1)
	if v := n.view.Load().v; n.rs.announced.Load() && v.Restarting(n.self) {
		// Stopping for a restart: the sender holds the request until this
		// gateway is back (the view in the answer says so).
		return kindFailed, encodeFailed(v, failNotServing, "restarting")
	}
	if err := n.canServe(); err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failNotServing, err.Error())
	}
	reply, v, err := n.runOp(ctx, key, &req, watch)
	if errors.Is(err, errNotOwner) {
		return kindNotOwner, appendView(nil, n.view.Load().v)
	}
	if errors.Is(err, locking.ErrClientGone) {
		// Given up by its sender (cancel.go): nobody reads this answer.
		return kindFailed, encodeFailed(v, failOther, err.Error())
	}
	n.stats.Served.Add(1)
	if err != nil {
		n.log.Warn("forwarded operation failed in the store", "err", err)
		return kindFailed, encodeFailed(v, failClass(err), err.Error())
	}
	if err := n.canServe(); err != nil {
		// It ran, but this gateway may no longer answer for the key: the
		// sender closes its client's connection (failOther: not retried).
		return kindFailed, encodeFailed(v, failOther, err.Error())
	}
	if reply == nil {
		// Queued behind other waiters, it never ran before its wait ended.
		return kindFailed, encodeFailed(v, failOther, "the operation did not run before its wait ended")
	}
	return kindResult, reply
}

// Close stops the node's links and workers. It does not close the store.
func (n *Node) Close() error {
	n.serving.Store(false)
	n.cancel()
	n.rs.stopWaits()
	var err error
	if n.mesh != nil {
		err = n.mesh.Close()
	}
	n.wg.Wait()
	return err
}

// OwnerOf returns the member ID that owns key in this gateway's current view
// ("" when no member is active). For tools and tests.
func (n *Node) OwnerOf(key string) string {
	if o := n.owner(n.view.Load(), key); o >= 0 {
		return n.members[o].ID
	}
	return ""
}
