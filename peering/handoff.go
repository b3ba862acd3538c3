package peering

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Hand-off: after a view change each node walks its store and moves every
// record it no longer owns to the new owner (push); a new owner that is asked
// for a key it lacks first asks the key's owners in the recent views to move
// it now (pull). A move is install-then-delete: the receiver's store has the
// record before the sender deletes its copy. Nothing else moves records.

const (
	moveBatchRecords = 256     // records per move message
	moveBatchBytes   = 4 << 20 // ... or this many bytes of blobs
	moveParallel     = 8       // move messages in flight during a hand-off
	storeParallel    = 32      // concurrent installs or deletes, so durable stores share syncs
	handoffRetry     = time.Second
)

func (n *Node) kickHandoff() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// handoffWorker runs the push side of every view change, one at a time,
// until this node holds nothing it does not own under the current view.
func (n *Node) handoffWorker() {
	defer n.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		case <-retry.C:
		}
		vs := n.view.Load()
		if n.selfDone.Load() == vs || vs.v.Entries[n.self].State == Down {
			continue // declared down: its records are set aside, never handed over
		}
		select {
		case <-vs.drained:
		case <-n.ctx.Done():
			return
		}
		left, err := n.handOff(vs)
		if n.view.Load() != vs {
			continue // a newer view is already kicked
		}
		if err == nil && left == 0 {
			n.selfDone.Store(vs)
			n.broadcastComplete(vs)
			continue
		}
		if err != nil {
			n.log.Warn("hand-off incomplete; retrying", "records_left", left, "err", err)
			retry.Reset(handoffRetry)
		} else {
			// Records a pull was moving at the same time: look again soon.
			n.log.Debug("hand-off: records were being moved by pulls; walking again", "records_left", left)
			retry.Reset(handoffRetry / 10)
		}
	}
}

// handOff moves every local record owned elsewhere under vs. It reports how
// many records it could not move.
func (n *Node) handOff(vs *viewState) (left int, err error) {
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	var (
		mu       sync.Mutex // guards left and firstErr
		firstErr error
		wg       sync.WaitGroup
		slots    = make(chan struct{}, moveParallel)
	)
	send := func(target int, keys []string) {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			l, err := n.pushBatch(ctx, vs, target, keys)
			mu.Lock()
			left += l
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	batches := map[int][]string{}
	sizes := map[int]int{}
	stale := errors.New("view changed")
	walkErr := n.mover.Walk(ctx, func(key string, rec *backends.Record, _ time.Time) error {
		if n.view.Load() != vs {
			return stale
		}
		o := n.owner(vs, key)
		if o == n.self {
			return nil
		}
		if o < 0 {
			mu.Lock()
			left++
			mu.Unlock()
			return nil
		}
		batches[o] = append(batches[o], strings.Clone(key))
		sizes[o] += len(rec.Data) + len(key)
		if len(batches[o]) >= moveBatchRecords || sizes[o] >= moveBatchBytes {
			send(o, batches[o])
			batches[o], sizes[o] = nil, 0
		}
		return nil
	})
	for o, keys := range batches {
		if len(keys) > 0 {
			send(o, keys)
		}
	}
	wg.Wait()
	if walkErr != nil {
		return left + 1, walkErr
	}
	return left, firstErr
}

// claim marks keys as being moved by this caller; keys another mover holds
// are skipped. release ends the claim.
func (n *Node) claim(keys []string) []string {
	out := keys[:0:0]
	n.movingMu.Lock()
	for _, k := range keys {
		if _, busy := n.moving[k]; !busy {
			n.moving[k] = make(chan struct{})
			out = append(out, k)
		}
	}
	n.movingMu.Unlock()
	return out
}

func (n *Node) release(keys []string) {
	n.movingMu.Lock()
	for _, k := range keys {
		close(n.moving[k])
		delete(n.moving, k)
	}
	n.movingMu.Unlock()
}

// pushBatch moves keys to target: it reads each record afresh (a pull may have
// moved it meanwhile), sends them, and deletes the ones the target took.
func (n *Node) pushBatch(ctx context.Context, vs *viewState, target int, keys []string) (left int, err error) {
	claimed := n.claim(keys)
	left = len(keys) - len(claimed) // moved by a pull right now; the next walk checks
	defer n.release(claimed)
	now := n.cfg.Now()
	recs := make([]movedRecord, 0, len(claimed))
	for _, k := range claimed {
		rec, exp, err := n.mover.Peek(ctx, k)
		if errors.Is(err, backends.ErrNotFound) {
			continue
		}
		if err != nil {
			left++
			continue
		}
		if rem := exp.Sub(now); rem > 0 {
			recs = append(recs, movedRecord{key: k, rec: rec, remaining: rem})
		}
	}
	if len(recs) == 0 {
		return left, nil
	}
	kind, body, err := n.call(ctx, target, kindMove, encodeMove(vs.v, recs))
	if err != nil {
		return left + len(recs), err
	}
	if kind != kindMoved || len(body) != len(recs) {
		return left + len(recs), n.failure(target, kind, body)
	}
	var gone []string
	for i, st := range body {
		if st == moveTaken {
			gone = append(gone, recs[i].key)
		} else {
			left++
		}
	}
	if bm, ok := n.mover.(backends.BatchMover); ok && len(gone) > 0 {
		// One durable write for the whole message. On an error any of
		// them may remain: count them all as left; the next walk finds
		// and moves again the ones that did (the target answers "taken"
		// for a key it has received from us before).
		if err := bm.RemoveBatch(ctx, gone); err != nil {
			return left + len(gone), err
		}
		n.stats.MovedOut.Add(uint64(len(gone)))
		return left, nil
	}
	errs := parallel(len(gone), func(i int) error {
		err := backends.Remove(ctx, n.store, gone[i])
		if errors.Is(err, backends.ErrNotFound) {
			return nil
		}
		return err
	})
	for _, e := range errs {
		if e != nil {
			left++
			err = e
		}
	}
	n.stats.MovedOut.Add(uint64(len(gone)))
	return left, err
}

// parallel runs fn(0..n-1) with at most storeParallel at once and returns
// their errors by index.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	slots := make(chan struct{}, storeParallel)
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// serveMove takes in records from src for keys this node owns.
func (n *Node) serveMove(ctx context.Context, src int, b []byte) (byte, []byte) {
	recs, err := decodeMove(b)
	if err != nil {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed move")
	}
	vs := n.enter()
	defer vs.gate.RUnlock()
	now := n.cfg.Now()
	status := make([]byte, len(recs))
	n.receivedMu.Lock()
	seen := n.received[src]
	if seen == nil {
		seen = map[string]struct{}{}
		n.received[src] = seen
	}
	n.receivedMu.Unlock()
	// admit sets the status of records that are not to be installed and
	// reports whether recs[i] is.
	admit := func(i int) bool {
		r := &recs[i]
		if n.owner(vs, r.key) != n.self {
			status[i] = moveNotMine
			return false
		}
		n.receivedMu.Lock()
		_, again := seen[r.key]
		n.receivedMu.Unlock()
		if again {
			// Taken in by an earlier attempt whose answer was lost: the
			// record may have changed or been removed here since, so the
			// old copy must not come back.
			status[i] = moveTaken
			return false
		}
		return true
	}
	// took records that recs[i] is here now (stored, or not needed: a live
	// record was already here).
	took := func(i int, stored bool) {
		n.receivedMu.Lock()
		seen[recs[i].key] = struct{}{}
		n.receivedMu.Unlock()
		if stored {
			n.stats.MovedIn.Add(1)
		}
		status[i] = moveTaken
	}
	if bm, ok := n.mover.(backends.BatchMover); ok {
		// The whole message in one durable write.
		var (
			batch = make([]backends.Install, 0, len(recs))
			which = make([]int, 0, len(recs))
		)
		for i := range recs {
			if admit(i) {
				r := &recs[i]
				batch = append(batch, backends.Install{Key: r.key, Record: r.rec, Expires: now.Add(r.remaining)})
				which = append(which, i)
			}
		}
		if len(batch) > 0 {
			err := bm.InstallBatch(ctx, batch)
			for j, i := range which {
				if err != nil || batch[j].Err != nil {
					status[i] = moveFailed
				} else {
					took(i, batch[j].Stored)
				}
			}
		}
		return kindMoved, append(appendView(nil, vs.v), status...)
	}
	parallel(len(recs), func(i int) error {
		if !admit(i) {
			return nil
		}
		r := &recs[i]
		stored, err := n.mover.Install(ctx, r.key, r.rec, now.Add(r.remaining), false)
		if err != nil {
			status[i] = moveFailed
			return nil
		}
		took(i, stored)
		return nil
	})
	return kindMoved, append(appendView(nil, vs.v), status...)
}

// servePull moves one key to src now, if this node holds it, because src owns
// it in the newest view and a request for it is waiting there.
func (n *Node) servePull(ctx context.Context, src int, b []byte) (byte, []byte) {
	key, rest, ok := readKey(b)
	if !ok || len(rest) != 0 {
		return kindFailed, encodeFailed(n.view.Load().v, failOther, "malformed pull")
	}
	vs := n.view.Load()
	if n.owner(vs, key) != src {
		return kindNotOwner, appendView(nil, vs.v)
	}
	// An operation of an older view may still be changing the key here: the
	// key lock waits for it (and no newer one runs it here: this node is not
	// the owner). Waiting for the key alone, not for every older operation,
	// cannot close a cycle with a pull that such an operation is making.
	defer n.keyLocks.Lock(key).Unlock()
	n.stats.Pulls.Add(1)
	moved, err := n.moveOne(ctx, vs, key, src)
	if err != nil {
		return kindFailed, encodeFailed(vs.v, failOther, err.Error())
	}
	ans := pullAbsent
	if moved {
		ans = pullMoved
	}
	return kindPulled, append(appendView(nil, vs.v), ans)
}

// moveOne moves key to target, waiting for a move of it already under way.
func (n *Node) moveOne(ctx context.Context, vs *viewState, key string, target int) (bool, error) {
	for {
		n.movingMu.Lock()
		ch, busy := n.moving[key]
		n.movingMu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	before := n.stats.MovedOut.Load()
	left, err := n.pushBatch(ctx, vs, target, []string{key})
	if err != nil || left > 0 {
		if err == nil {
			err = errors.New("peering: the record could not be moved")
		}
		return false, err
	}
	return n.stats.MovedOut.Load() > before, nil
}

// pullIfMissing asks the members that may still hold key (its owners in the
// views since the last completed hand-off) to move it here, when it is not
// here. An unreachable holder fails the request: it may have the session.
func (n *Node) pullIfMissing(ctx context.Context, vs *viewState, key string) error {
	_, _, err := n.mover.Peek(ctx, key)
	if err == nil {
		return nil
	}
	if !errors.Is(err, backends.ErrNotFound) {
		return err
	}
	kh := keyHash(key)
	var ask []int
	add := func(i int) {
		if i < 0 || i == n.self || !vs.pending[i].Load() {
			return
		}
		for _, j := range ask {
			if j == i {
				return
			}
		}
		ask = append(ask, i)
	}
	for _, h := range vs.history {
		add(ownerOf(kh, n.mh, h))
	}
	if len(vs.history) >= maxHistory {
		for i := range vs.pending {
			add(i)
		}
	}
	for _, i := range ask {
		payload := appendKey(appendView(nil, vs.v), key)
		kind, body, err := n.call(ctx, i, kindPull, payload)
		if err != nil {
			return err
		}
		switch {
		case kind == kindNotOwner:
			return errNotOwner
		case kind == kindPulled && len(body) == 1:
			if body[0] == pullMoved {
				return nil
			}
		default:
			return n.failure(i, kind, body)
		}
	}
	return nil
}

// peerComplete records that member i holds nothing this node owns under vs.
func (n *Node) peerComplete(vs *viewState, i int) {
	if !vs.pending[i].Swap(false) {
		return
	}
	n.receivedMu.Lock()
	delete(n.received, i)
	n.receivedMu.Unlock()
	if vs.complete() {
		n.log.Info("hand-off into this gateway complete", "epoch", vs.epoch.String())
	}
}

// broadcastComplete tells every member that this node's hand-off for vs is
// done, so they stop asking it for keys.
func (n *Node) broadcastComplete(vs *viewState) {
	n.log.Info("hand-off from this gateway complete", "epoch", vs.epoch.String(), "moved_out", n.stats.MovedOut.Load())
	n.callAll(n.ctx, kindComplete, appendView(nil, vs.v))
}

// callAll sends one request to every other member in parallel and waits for
// the answers (or the request timeout).
func (n *Node) callAll(ctx context.Context, kind byte, payload []byte) {
	n.callAllThen(ctx, kind, payload, nil)
}

// callAllThen is callAll that calls answered(i) for each member that answered.
func (n *Node) callAllThen(ctx context.Context, kind byte, payload []byte, answered func(i int)) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n.members {
		if i == n.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := n.call(ctx, i, kind, payload); err == nil && answered != nil {
				answered(i)
			}
		}()
	}
	wg.Wait()
}

// Leave drains this gateway: it leaves the view, hands every record to its new
// owner, and reports how many records stayed behind. Operations that arrive
// meanwhile are forwarded to the new owners. Bounded by the drain timeout.
func (n *Node) Leave(ctx context.Context) (left int, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DrainTimeout)
	defer cancel()
	start := time.Now()
	vs := n.change(Leaving)
	n.log.Info("draining: handing every record to its new owner", "epoch", vs.epoch.String())
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// When no member is active (the whole farm is stopping at once: compose
	// down, a deleted StatefulSet) nobody can take the records: waiting out
	// the drain timeout would only delay the stop.
	nobody := false
	for n.selfDone.Load() != n.view.Load() {
		if nobody = !anyActive(n.view.Load().v); nobody {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-ctx.Done():
		}
		break
	}
	left, err = n.count(context.WithoutCancel(ctx))
	if err != nil {
		return left, err
	}
	if left > 0 {
		msg := "drain incomplete: records stay here; their sessions fail until this gateway returns or is declared down"
		if nobody {
			msg = "drain incomplete: every member is leaving, so no member can take the records"
		}
		n.log.Error(msg, "records_left", left, "moved", n.stats.MovedOut.Load(), "took", time.Since(start).Round(time.Millisecond))
		return left, nil
	}
	n.change(Gone)
	n.log.Info("drain complete", "moved", n.stats.MovedOut.Load(), "took", time.Since(start).Round(time.Millisecond))
	return 0, nil
}

// anyActive reports whether some member of v owns keys.
func anyActive(v *View) bool {
	for i := range v.Entries {
		if v.Owns(i) {
			return true
		}
	}
	return false
}

// count walks the store and counts its live records.
func (n *Node) count(ctx context.Context) (int, error) {
	c := 0
	err := n.mover.Walk(ctx, func(string, *backends.Record, time.Time) error { c++; return nil })
	return c, err
}
