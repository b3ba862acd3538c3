package badgerstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/aspstate/aspstate/backends/internal/durable"
)

// The "interval" sync policy: badger runs without SyncWrites, so a commit
// returns once the write is in badger's memory-mapped value log and WAL, that
// is in the kernel's page cache, which a process crash (kill -9) does not
// lose. The syncer goroutine then makes everything written so far durable
// every SyncInterval, bounding what a power loss or kernel crash can lose.
//
// DB.Sync alone is not enough for that bound: it syncs only the current
// memtable's WAL and the current value-log file, and without SyncWrites badger
// does not sync a WAL or value-log file when it moves on to a new one. So each
// round also fsyncs every WAL file (*.mem: at most NumMemtables+1 exist)
// and every value-log file (*.vlog) at or after the newest one of the previous
// round, opened by name (an fsync on any descriptor flushes the file's
// pages, however they were written), and the directory. A file that is gone was
// deleted by badger after its contents became durable elsewhere (a WAL after
// its memtable was flushed to a synced table; a value-log file after value-log
// GC moved its live entries to the current file, which this round syncs).

// syncRound is the "interval" policy's periodic sync, every SyncInterval;
// Close's own final sync covers the last interval.
func (s *Store) syncRound() {
	start := time.Now()
	err := s.syncFiles()
	if err == nil {
		s.syncs.Add(1)
		s.syncNano.Add(int64(time.Since(start)))
	}
	if err != nil {
		s.cfg.Logger.Error("badgerstore: periodic sync failed; recent writes are not yet safe from a power loss", "path", s.path, "err", err)
	}
}

// syncFiles makes every write committed before it started durable. Called
// by syncRound and Close only (syncedVlog is theirs).
func (s *Store) syncFiles() (err error) {
	// DB.Sync dereferences the memtable, which a closed DB no longer has.
	if s.db.IsClosed() {
		return badger.ErrDBClosed
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger panicked in Sync: %v", r)
		}
	}()
	if err := s.db.Sync(); err != nil {
		return err
	}
	ents, err := os.ReadDir(s.path)
	if err != nil {
		return err
	}
	maxVlog := s.syncedVlog
	var errs []error
	for _, ent := range ents {
		name := ent.Name()
		switch {
		case strings.HasSuffix(name, ".mem"):
		case strings.HasSuffix(name, ".vlog"):
			fid, err := strconv.Atoi(strings.TrimSuffix(name, ".vlog"))
			if err != nil || fid < s.syncedVlog {
				continue // older files were complete and synced in an earlier round
			}
			maxVlog = max(maxVlog, fid)
		default:
			continue
		}
		if err := syncFile(filepath.Join(s.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(s.path); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		s.syncedVlog = maxVlog
	}
	return errors.Join(errs...)
}

// syncFile fsyncs the named file through a descriptor of its own (on
// Windows a writable handle that shares delete, so that badger can still
// delete or rename the file meanwhile: see package durable).
func syncFile(name string) error { return durable.SyncFile(name) }
