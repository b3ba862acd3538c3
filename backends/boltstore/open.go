package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aspstate/aspstate/locking"
)

// Open validates cfg, opens (or creates) the data file, loads the deadline
// index and starts the writer and sweeper. Every failure names the path.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	start := time.Now()
	db, ld, err := openFile(cfg)
	if err != nil {
		return nil, err
	}
	syncLog := cfg.Sync == SyncAlways
	seg, err := createSegment(cfg.Path, ld.nextSeq, syncLog, cfg.faults)
	if err != nil {
		closeQuietly(db)
		return nil, fmt.Errorf("boltstore: open %s: create log: %w", cfg.Path, err)
	}
	s := &Store{
		cfg:         cfg,
		db:          db,
		ix:          ld.ix,
		locks:       locking.NewKeyLocks(),
		log:         cfg.Logger,
		writes:      make(chan *writeOp, maxWriteBatch),
		flushes:     make(chan chan error),
		sweeps:      make(chan *sweepBatch),
		rotates:     make(chan rotation),
		kick:        make(chan struct{}, 1),
		syncLog:     syncLog,
		seg:         seg,
		nextSeq:     ld.nextSeq + 1,
		liveSeq:     ld.nextSeq,
		stopSweeper: make(chan struct{}),
		stopCkpt:    make(chan struct{}),
		stopWriter:  make(chan struct{}),
	}
	s.lease.Store(ld.lease)
	if cfg.dbBatch {
		db.MaxBatchDelay = dbBatchDelay
	}
	s.wg.Add(1)
	go s.runWriter()
	s.cwg.Add(1)
	go s.runCheckpointer()
	s.swg.Add(2)
	go s.runSweeper()
	go s.runTrimmer()
	s.log.Info("boltstore: opened", "path", cfg.Path, "records", ld.records, "clean", ld.clean,
		"replayed", ld.replayed, "sync", cfg.Sync, "took", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// loaded is what Open reads from the file.
type loaded struct {
	ix       *index
	lease    int64
	records  int
	clean    bool
	replayed int    // log records replayed
	nextSeq  uint64 // first free log segment number
}

// openFile opens the bbolt file and loads it. bbolt panics on some corrupt
// pages; that becomes an error naming the path, never a crash.
func openFile(cfg Config) (db *bolt.DB, ld loaded, err error) {
	// bbolt does not close its file when it panics inside Open; remember it
	// so that at least the descriptor is closed. The file lock stays held by
	// bbolt's leftover memory map until the process exits: a corrupt file is
	// a startup error, and the operator restarts after repairing it.
	var file *os.File
	if err := checkDataFile(cfg.Path); err != nil {
		return nil, ld, err
	}
	// A truncated file faults (SIGBUS/SIGSEGV) on a page beyond its end:
	// make that a panic, recovered below, rather than the end of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				closeQuietly(db)
			} else if file != nil {
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("boltstore: open %s: corrupt file (bbolt: %v)", cfg.Path, r)
		}
	}()
	db, err = bolt.Open(cfg.Path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		NoSync:       cfg.Sync == SyncNone,
		FreelistType: bolt.FreelistMapType, // hashmap freelist: fast allocation in big files
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, ld, fmt.Errorf("boltstore: open %s: locked by another process (waited %s for the file lock)", cfg.Path, lockTimeout)
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch):
		return nil, ld, fmt.Errorf("boltstore: open %s: not a bbolt file, or corrupt: %w", cfg.Path, err)
	case err != nil:
		return nil, ld, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	if err := checkSize(db, cfg.Path); err != nil {
		closeQuietly(db)
		return nil, ld, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	replayed, nextSeq, err := replay(db, cfg)
	if err != nil {
		closeQuietly(db)
		return nil, ld, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		var err error
		ld, err = load(tx, cfg)
		return err
	}); err != nil {
		closeQuietly(db)
		return nil, ld, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	ld.replayed, ld.nextSeq = replayed, nextSeq
	return db, ld, nil
}

func closeQuietly(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// load checks the format, creates the buckets in a new file, builds the
// deadline index and marks the file as open (not clean).
//
// Deadlines after a crash: the flusher persists every slid deadline and the
// snapshot time F of each flush, and the lease L promises that no read slid a
// deadline at or after L without flushing first. A key whose persisted
// deadline is below F was expired at F and nothing could revive it but a
// write, which persists its own deadline. Any other key may have been read at
// any time before L, so its true deadline is at most max(persisted, L+timeout).
// After a clean Close every deadline was persisted exactly.
func load(tx *bolt.Tx, cfg Config) (loaded, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if err := initFile(tx, cfg); err != nil {
			return loaded{}, err
		}
		meta = tx.Bucket(bucketMeta)
	}
	if err := checkFormat(meta); err != nil {
		return loaded{}, err
	}
	sess, dl := tx.Bucket(bucketSessions), tx.Bucket(bucketDeadlines)
	if sess == nil || dl == nil {
		return loaded{}, errors.New("corrupt session file (sessions or deadlines bucket missing)")
	}
	flushed, ok1 := getInt64(meta.Get(metaFlushed))
	lease, ok2 := getInt64(meta.Get(metaLease))
	if !ok1 || !ok2 {
		return loaded{}, errors.New("corrupt session file (meta bucket incomplete)")
	}
	ld := loaded{ix: newIndex(), lease: lease, clean: bytes.Equal(meta.Get(metaClean), []byte{1})}

	c := dl.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		persisted, timeout, ok := decodeDeadline(v)
		if !ok {
			return loaded{}, fmt.Errorf("corrupt deadline entry (%d-byte value, key of %d bytes)", len(v), len(k))
		}
		deadline := persisted
		if !ld.clean && persisted >= flushed {
			deadline = max(persisted, deadlineAt(lease, timeout))
		}
		ld.ix.load(&entry{key: string(k), deadline: deadline, persisted: persisted, timeout: timeout})
		ld.records++
	}
	// From now on a crash must take the recovery path above.
	return ld, meta.Put(metaClean, []byte{0})
}

// checkFormat refuses a file whose format version this build cannot read.
func checkFormat(meta *bolt.Bucket) error {
	v := meta.Get(metaFormat)
	if len(v) != 4 {
		return errors.New("not an aspstated session file (no format version)")
	}
	switch version := int(v[0])<<24 | int(v[1])<<16 | int(v[2])<<8 | int(v[3]); {
	case version > formatVersion:
		return fmt.Errorf("format version %d was written by a newer aspstated (this build reads version %d)", version, formatVersion)
	case version < 1:
		return fmt.Errorf("format version %d is not supported (this build reads version %d)", version, formatVersion)
	}
	return nil
}

// initFile lays out a new file. A bbolt file that already holds other buckets
// belongs to someone else and is refused.
func initFile(tx *bolt.Tx, cfg Config) error {
	foreign := false
	_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		foreign = true
		return nil
	})
	if foreign {
		return fmt.Errorf("not an aspstated session file (a bbolt file without the %q bucket)", bucketMeta)
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketSessions); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketDeadlines); err != nil {
		return err
	}
	now := cfg.Now().UnixNano()
	for _, kv := range [][2][]byte{
		{metaFormat, []byte{0, 0, 0, formatVersion}},
		{metaFlushed, putInt64(now)},
		{metaLease, putInt64(now)},
		{metaCovered, putInt64(0)},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}
