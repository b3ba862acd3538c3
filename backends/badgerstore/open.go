package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/aspstate/aspstate/locking"
)

// Open opens (creating if needed) the store in cfg.Path, checks its format
// version and rebuilds the in-memory deadline index from badger's TTLs.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	path := cfg.Path
	if err := checkDir(path); err != nil {
		return nil, err
	}
	reserve := diskReserve(&cfg)
	if err := checkSpace(path, reserve, 0); err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: refusing to start: %w", path, err)
	}
	mark := &Store{cfg: cfg, path: path}
	if err := mark.checkCloseMark(); err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: %w", path, err)
	}
	db, err := openBadger(badgerOptions(cfg))
	if err != nil {
		return nil, err
	}
	if err := mark.removeCloseMark(); err != nil {
		db.Close()
		return nil, fmt.Errorf("badgerstore: open %s: removing the clean-close mark: %w", path, err)
	}
	s := &Store{
		cfg:     cfg,
		path:    path,
		db:      db,
		wr:      newCommitter(db, func(need int64) error { return checkSpace(path, reserve, need) }),
		locks:   locking.NewKeyLocks(),
		dl:      newDeadlines(cfg.RecordCacheSize),
		epoch:   cfg.Now(),
		pending: make(map[string]struct{}),
		stop:    make(chan struct{}),
	}
	fail := func() { s.wr.close(); db.Close() }
	if err := s.checkFormat(); err != nil {
		fail()
		return nil, err
	}
	if err := s.rebuild(); err != nil {
		fail()
		return nil, fmt.Errorf("badgerstore: open %s: reading keys: %w", path, err)
	}
	if err := s.verifySample(); err != nil {
		fail()
		return nil, fmt.Errorf("badgerstore: open %s: %w", path, err)
	}
	if err := s.loadSnapshot(); err != nil {
		fail()
		return nil, fmt.Errorf("badgerstore: open %s: deadline snapshot: %w", path, err)
	}
	s.wg.Add(3)
	go s.maintain()
	go s.collectGarbage()
	go s.every(trimInterval, s.trim)
	if cfg.Sync == SyncInterval {
		s.wg.Add(1)
		go s.every(cfg.SyncInterval, s.syncRound)
	}
	return s, nil
}

func badgerOptions(cfg Config) badger.Options {
	opts := badger.DefaultOptions(cfg.Path).
		WithSyncWrites(cfg.Sync == SyncAlways).
		WithValueLogFileSize(cfg.ValueLogFileSize).
		WithValueThreshold(cfg.ValueThreshold).
		WithMemTableSize(cfg.MemTableSize).
		WithNumMemtables(cfg.NumMemtables).
		WithBlockCacheSize(cfg.BlockCacheSize).
		WithIndexCacheSize(cfg.IndexCacheSize).
		WithNumLevelZeroTables(min(5, max(1, cfg.NumMemtables))).
		WithNumLevelZeroTablesStall(10).
		WithNumCompactors(2). // badger's minimum; the gateway machine is small
		WithNumGoroutines(2).
		WithCompression(options.Snappy).
		WithVerifyValueChecksum(true). // a damaged value log is an error, not a wrong value (issue 17)
		WithMetricsEnabled(false).     // badger's metrics are process-wide expvars
		WithLogger(slogAdapter{cfg.Logger})
	return opts
}

// checkDir creates path if missing and refuses a non-empty directory that is
// not a badger database, rather than adopting it as an empty store.
func checkDir(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return fmt.Errorf("badgerstore: open %s: %w", path, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("badgerstore: open %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("badgerstore: open %s: not a directory", path)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("badgerstore: open %s: %w", path, err)
	}
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(path, "MANIFEST")); err != nil {
		return fmt.Errorf("badgerstore: open %s: directory is not empty and holds no badger MANIFEST; refusing to use it as a data directory", path)
	}
	return nil
}

// openBadger opens the database, turning badger's panics on damaged files into
// errors and naming the directory lock plainly.
func openBadger(opts badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("badgerstore: open %s: damaged or unreadable data files: badger panicked: %v", opts.Dir, r)
		}
	}()
	db, err = badger.Open(opts)
	if err != nil {
		// Unix: flock fails; Windows: the LOCK file is open elsewhere.
		if msg := err.Error(); strings.Contains(msg, "Cannot acquire directory lock") ||
			strings.Contains(msg, "Another process is using this Badger database") {
			return nil, fmt.Errorf("badgerstore: open %s: locked by another process (or another Store in this one): %w", opts.Dir, err)
		}
		return nil, fmt.Errorf("badgerstore: open %s: cannot open the badger database (unreadable, corrupt or incompatible files, or disk full?): %w", opts.Dir, err)
	}
	return db, nil
}

// checkFormat reads the format-version key, writing it into a new database.
func (s *Store) checkFormat() error {
	var version uint32
	var found, other bool
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			it.Rewind()
			other = it.Valid()
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error {
			if len(v) != 4 {
				return fmt.Errorf("format-version key holds %d bytes, want 4", len(v))
			}
			version = binary.BigEndian.Uint32(v)
			return nil
		})
	})
	switch {
	case err != nil:
		return fmt.Errorf("badgerstore: open %s: reading the format version: %w", s.path, err)
	case found && version > formatVersion:
		return fmt.Errorf("badgerstore: open %s: format version %d is newer than this build understands (%d); refusing to open", s.path, version, formatVersion)
	case found && version < 1:
		return fmt.Errorf("badgerstore: open %s: invalid format version %d", s.path, version)
	case found:
		return nil
	case other:
		return fmt.Errorf("badgerstore: open %s: badger database without an aspstated format-version key; refusing to open", s.path)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(formatKey, binary.BigEndian.AppendUint32(nil, formatVersion))
	})
	if err != nil {
		return fmt.Errorf("badgerstore: open %s: writing the format version: %w", s.path, err)
	}
	return nil
}

// rebuild fills the deadline index from the keys and badger TTLs alone: it
// does not read values, so a restart does not page the value log in. Badger's
// TTL is the record's horizon or later, an upper bound of its deadline; the
// exact horizon in the record corrects it on first access.
func (s *Store) rebuild() error {
	realNow := time.Now().Unix()
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{recordPrefix}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			h := int64(1<<63 - 1)
			if exp := item.ExpiresAt(); exp != 0 {
				h = int64(time.Duration(int64(exp)-realNow) * time.Second)
			}
			key := string(item.Key()[1:])
			sh := &s.dl.shards[s.dl.shard(key)]
			sh.mu.Lock()
			sh.m[key] = entry{d: h}
			sh.mu.Unlock()
		}
		return nil
	})
}
