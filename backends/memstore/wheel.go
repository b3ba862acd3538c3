package memstore

import (
	"runtime"
	"time"
)

const (
	// wheelSlots is the number of one-second slots in each shard's timing
	// wheel: one lap is about 17 minutes. An entry due in a later lap stays in
	// its slot and is passed over (O(1)) when the slot comes round.
	wheelSlots = 1024
	// sweepInterval is how often the sweeper runs. With one-second slots and
	// the current second revisited on every tick, a record is removed at most
	// about this long after its deadline.
	sweepInterval = 250 * time.Millisecond
	// sweepBatch bounds how many entries (or empty slots) the sweeper handles
	// per hold of a shard lock, so a request never waits behind a large
	// expiry: about 20 µs.
	sweepBatch = 128
)

// floorSec converts unix nanoseconds to whole seconds, rounding down.
func floorSec(ns int64) int64 {
	s := ns / int64(time.Second)
	if ns < 0 && ns%int64(time.Second) != 0 {
		s--
	}
	return s
}

func slotOf(sec int64) int { return int(uint64(sec) % wheelSlots) }

// dueFor returns the second to file an entry with deadline d under: the
// deadline's second, or the sweeper's current position if that is later.
func (sh *shard) dueFor(d int64) int64 { return max(floorSec(d), sh.next) }

// link files e under second due. sh.mu must be held and e not linked.
func (sh *shard) link(e *entry, due int64) {
	e.due = due
	head := &sh.wheel[slotOf(due)]
	e.prev = nil
	e.next = *head
	if *head != nil {
		(*head).prev = e
	}
	*head = e
}

// unlink removes e from its slot. sh.mu must be held and e linked.
func (sh *shard) unlink(e *entry) {
	if sh.cursor == e {
		sh.cursor = e.next
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.wheel[slotOf(e.due)] = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
}

// sweepLoop runs the sweeper until Close.
func (s *Store) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep removes the records whose deadline has passed by the configured
// clock, visiting only the wheel slots that came due since the last sweep. It
// works through the shards round robin, one bounded batch per shard lock
// hold, yielding after each batch that did work, so that a request on a shard
// with much to sweep waits at most one batch and the shard's lock is not
// retaken at once.
func (s *Store) sweep() (removed int) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	start := time.Now()
	now := s.now().UnixNano()
	pending := s.pending[:0]
	for i := range s.shards {
		if s.startSweep(&s.shards[i], now) {
			pending = append(pending, uint16(i))
		}
	}
	for len(pending) > 0 {
		select {
		case <-s.stop:
			return removed
		default:
		}
		j := 0
		for _, i := range pending {
			n, done := s.sweepBatch(&s.shards[i], now)
			removed += n
			if n > 0 || !done {
				// A request woken when the batch released the lock waits in
				// this P's run queue; yielding lets it run now rather than
				// when the scheduler next preempts the sweeper (up to 10 ms).
				runtime.Gosched()
			}
			if !done {
				pending[j] = i
				j++
			}
		}
		pending = pending[:j]
	}
	if removed > 0 {
		s.expired.Add(int64(removed))
		s.log.Debug("memstore: swept expired records", "removed", removed, "records", s.count.Load(), "took", time.Since(start))
	}
	return removed
}

// startSweep sets the shard up to sweep the seconds from sh.next to now and
// reports whether there is anything to do. The current second stays as
// sh.next, so it is visited again on the next tick for entries expiring
// later in it.
func (s *Store) startSweep(sh *shard, now int64) bool {
	nowSec := floorSec(now)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() || nowSec < sh.next {
		return false // closed, or the clock went backwards: wait for it to catch up
	}
	sh.sweepSec = max(sh.next, nowSec-wheelSlots+1) // after a long gap, each slot once is enough
	sh.next = nowSec
	sh.cursor = sh.wheel[slotOf(sh.sweepSec)]
	return true
}

// sweepBatch sweeps up to sweepBatch entries or empty slots of one shard and
// reports how many records it removed and whether the shard is done.
func (s *Store) sweepBatch(sh *shard, now int64) (removed int, done bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.closed.Load() {
		sh.cursor = nil
		return removed, true
	}
	for budget := sweepBatch; budget > 0; budget-- {
		if sh.cursor == nil {
			if sh.sweepSec >= sh.next {
				return removed, true
			}
			sh.sweepSec++
			sh.cursor = sh.wheel[slotOf(sh.sweepSec)]
			continue
		}
		e := sh.cursor
		sh.cursor = e.next
		if s.sweepEntry(sh, e, sh.sweepSec, now) {
			removed++
		}
	}
	return removed, false
}

// sweepEntry handles one entry found in the slot of second sec: remove it if
// expired, re-file it if its deadline slid past sec, leave it if it is filed
// for a later lap. It reports whether it removed the entry.
func (s *Store) sweepEntry(sh *shard, e *entry, sec, now int64) bool {
	if now > e.deadline {
		s.removeLocked(sh, e)
		return true
	}
	if e.due > sec {
		return false
	}
	if due := sh.dueFor(e.deadline); due != e.due {
		sh.unlink(e)
		sh.link(e, due)
	}
	return false
}
