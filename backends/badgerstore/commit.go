package badgerstore

import (
	"errors"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
)

// Group commit. Badger with SyncWrites batches concurrent commits into one
// write, but then syncs the memtable's write-ahead log once per commit in that
// batch (DB.writeToLSM, a msync of the whole mapped file each time), and only
// one batch is written at a time: N concurrent writers cost N syncs in a row,
// so synced writes ran at one per sync (about 6,500 writes/s here, CPU bound
// in msync). The committer merges the writes of concurrent Apply calls into
// one badger transaction, which badger writes as one request: one value-log
// sync and one WAL sync for the whole group, whatever its size.
//
// While a group is being committed, the next one gathers in the channel, so
// the group size follows the load: one writer alone waits for one commit,
// fifty writers share one.

// maxGroup bounds the writes merged into one transaction; badger's own limit
// (ErrTxnTooBig, 15% of a memtable) may split a group earlier.
const maxGroup = 256

// writeOp is one Apply's write waiting for its group's commit.
type writeOp struct {
	key       []byte
	val       []byte // nil with del
	expiresAt uint64
	del       bool
	done      chan error // buffered (1); receives the commit's result
	// group, when set, makes this op a carrier: its ops join the same group
	// commit (each answered on its own done), and it is not answered.
	group []*writeOp
}

var opPool = sync.Pool{New: func() any { return &writeOp{done: make(chan error, 1)} }}

// committer owns the goroutine that commits groups of writes.
type committer struct {
	db *badger.DB
	// space, when set, is asked before each group whether its bytes may be
	// written (diskspace.go); its error fails the whole group.
	space func(need int64) error
	ops   chan *writeOp // Apply -> commit loop
	excl  chan func()   // run by the loop between groups (exclusive)
	gate  raceGate      // value-log GC vs commits, in race builds only (racegate_race.go)
	stop  chan struct{} // closed by close; the loop fails what is left
	wg    sync.WaitGroup
	// For the value-log collector (gc.go), since badger's memtable was last
	// flushed (by us, or by badger when it filled, as estimated): vlogBytes
	// counts the committed values at least vlogThreshold long, which badger
	// writes to the value log, and memBytes estimates the memtable's fill.
	// Only the commit loop changes them.
	vlogThreshold int
	vlogBytes     atomic.Int64
	memBytes      atomic.Int64
	memTableSize  int64
}

// memEntryBytes estimates what one entry costs a memtable beyond its key
// (and its value when kept inline): skiplist node, version, value pointer.
const memEntryBytes = 64

func newCommitter(db *badger.DB, space func(need int64) error) *committer {
	c := &committer{db: db, space: space, ops: make(chan *writeOp, maxGroup), excl: make(chan func()), stop: make(chan struct{}),
		vlogThreshold: int(db.Opts().ValueThreshold), memTableSize: db.Opts().MemTableSize}
	c.wg.Add(1)
	go c.loop()
	return c
}

// errCommitterClosed is what a write gets if it reaches a stopped committer;
// Store.Close stops the committer only after every Apply has returned, so
// this is a safety net, never expected.
var errCommitterClosed = errors.New("group committer stopped")

// write commits one entry (or deletion) in the next group and waits for it.
// With SyncWrites the group's commit returns after its fsync.
func (c *committer) write(key, val []byte, expiresAt uint64, del bool) error {
	op := opPool.Get().(*writeOp)
	op.key, op.val, op.expiresAt, op.del = key, val, expiresAt, del
	select {
	case c.ops <- op:
	case <-c.stop:
		opPool.Put(op)
		return errCommitterClosed
	}
	err := <-op.done
	op.key, op.val = nil, nil
	opPool.Put(op)
	return err
}

// writeGroup commits ops (taken from opPool, with key, val, expiresAt and
// del set) in the same group, so in one transaction unless badger's size
// limit splits it, and waits for each. It returns the ops' results in errs
// and puts the ops back in the pool.
func (c *committer) writeGroup(ops []*writeOp, errs []error) {
	carrier := &writeOp{group: ops}
	select {
	case c.ops <- carrier:
		for i, op := range ops {
			errs[i] = <-op.done
		}
	case <-c.stop:
		for i := range ops {
			errs[i] = errCommitterClosed
		}
	}
	for _, op := range ops {
		op.key, op.val = nil, nil
		opPool.Put(op)
	}
}

// appendOps appends the writes op stands for to group: its group, or itself.
func appendOps(group []*writeOp, op *writeOp) []*writeOp {
	if op.group != nil {
		return append(group, op.group...)
	}
	return append(group, op)
}

// exclusive runs fn on the commit loop between two groups, so that no write
// of Apply is in badger meanwhile (those wait in the channel), and returns
// its error; errCommitterClosed once the committer is stopped.
func (c *committer) exclusive(fn func() error) error {
	done := make(chan error, 1)
	select {
	case c.excl <- func() { done <- fn() }:
		return <-done
	case <-c.stop:
		return errCommitterClosed
	}
}

// close stops the commit loop and waits for it. Callers must not write after.
func (c *committer) close() {
	close(c.stop)
	c.wg.Wait()
}

func (c *committer) loop() {
	defer c.wg.Done()
	group := make([]*writeOp, 0, maxGroup)
	for {
		var op *writeOp
		select {
		case op = <-c.ops:
		case fn := <-c.excl:
			fn()
			continue
		case <-c.stop:
			for {
				select {
				case op = <-c.ops:
					for _, op := range appendOps(nil, op) {
						op.done <- errCommitterClosed
					}
				default:
					return
				}
			}
		}
		group = appendOps(group[:0], op)
	gather:
		for len(group) < maxGroup {
			select {
			case op = <-c.ops:
				group = appendOps(group, op)
			default:
				break gather
			}
		}
		c.commit(group)
		clear(group)
	}
}

// commit writes group in as few transactions as badger allows and reports
// each op's result. An op badger refuses on its own (a key too long, say)
// fails alone; a failed commit fails every op in that transaction.
func (c *committer) commit(group []*writeOp) {
	if c.space != nil {
		var need int64
		for _, op := range group {
			need += int64(len(op.key)+len(op.val)) + 64
		}
		if err := c.space(need); err != nil {
			for _, op := range group {
				op.done <- err
			}
			return
		}
	}
	for len(group) > 0 {
		txn := c.db.NewTransaction(true)
		n := 0 // ops of group in txn
		for n < len(group) {
			op := group[n]
			var err error
			if op.del {
				err = txn.Delete(op.key)
			} else {
				e := badger.NewEntry(op.key, op.val)
				e.ExpiresAt = op.expiresAt
				err = txn.SetEntry(e)
			}
			if errors.Is(err, badger.ErrTxnTooBig) && n > 0 {
				break // commit what we have; op starts the next transaction
			}
			if err != nil {
				// Fails alone: move it out of the transaction's range.
				op.done <- err
				group[n] = group[len(group)-1]
				group = group[:len(group)-1]
				continue
			}
			n++
		}
		c.gate.commitStart()
		err := txn.Commit()
		c.gate.commitEnd()
		txn.Discard()
		if err == nil {
			c.count(group[:n])
		}
		for _, op := range group[:n] {
			op.done <- err
		}
		group = group[n:]
	}
}

// count adds a committed group to the collector's counters.
func (c *committer) count(ops []*writeOp) {
	var vlog, mem int64
	for _, op := range ops {
		mem += int64(len(op.key)) + memEntryBytes
		if len(op.val) >= c.vlogThreshold {
			vlog += int64(len(op.key) + len(op.val))
		} else {
			mem += int64(len(op.val))
		}
	}
	if c.memBytes.Add(mem) >= c.memTableSize {
		// badger has flushed the memtable (or is about to): start over
		c.memBytes.Store(0)
		c.vlogBytes.Store(0)
		return
	}
	c.vlogBytes.Add(vlog)
}

// flushed restarts the counters after a forced flush; run it on the commit
// loop (exclusive).
func (c *committer) flushed() {
	c.memBytes.Store(0)
	c.vlogBytes.Store(0)
}
