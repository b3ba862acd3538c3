package badgerstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aspstate/aspstate/backends/internal/durable"
)

// The deadline snapshot: on a clean Close the exact in-memory deadlines are
// written beside the database, so that the next Open expires sessions exactly
// when the memory backend would. Open deletes the file before serving, so a
// later crash never finds a stale one; after a crash Open falls back to the
// horizons on disk, which are upper bounds.
//
// Format: magic, then entries of uvarint(len(key)+1), key, deadline (int64
// Unix nanoseconds on the store's clock, big-endian), then uvarint(0), then a
// CRC-32C of everything before it.
const snapshotName = "aspstated-deadlines"

var snapshotMagic = []byte("aspdl\x00\x00\x01")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeSnapshot writes every deadline to the snapshot file atomically.
func (s *Store) writeSnapshot() error {
	final := filepath.Join(s.path, snapshotName)
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<16)
	w.Write(snapshotMagic)
	var buf []byte
	for i := range s.dl.shards {
		sh := &s.dl.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			buf = binary.AppendUvarint(buf[:0], uint64(len(k))+1)
			buf = append(buf, k...)
			buf = binary.BigEndian.AppendUint64(buf, uint64(s.epoch.UnixNano()+e.d))
			w.Write(buf)
		}
		sh.mu.Unlock()
	}
	w.Write([]byte{0})
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := durable.Rename(tmp, final); err != nil { // write-through on Windows
		return err
	}
	return syncDir(s.path)
}

// loadSnapshot lowers the rebuilt deadlines to the exact ones of the last
// clean Close, then deletes the file. A damaged snapshot is ignored with a
// warning: the horizons are safe upper bounds.
func (s *Store) loadSnapshot() error {
	name := filepath.Join(s.path, snapshotName)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	perr := s.readSnapshot(f)
	f.Close()
	if perr != nil {
		s.cfg.Logger.Warn("badgerstore: ignoring a damaged deadline snapshot; sessions may live up to a few minutes longer",
			"path", name, "err", perr)
	}
	if err := os.Remove(name); err != nil {
		return err
	}
	return syncDir(s.path)
}

func (s *Store) readSnapshot(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size < int64(len(snapshotMagic))+1+4 {
		return fmt.Errorf("%d bytes is too short", size)
	}
	// Check the CRC before trusting any entry.
	crc := crc32.New(castagnoli)
	if _, err := io.CopyN(crc, f, size-4); err != nil {
		return err
	}
	var want [4]byte
	if _, err := io.ReadFull(f, want[:]); err != nil {
		return err
	}
	if crc.Sum32() != binary.BigEndian.Uint32(want[:]) {
		return errors.New("checksum mismatch")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(io.LimitReader(f, size-4), 1<<16)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != string(snapshotMagic) {
		return errors.New("bad magic or unknown snapshot version")
	}
	// The CRC matched, so every entry is one this store wrote at Close.
	key := make([]byte, 0, 256)
	var d [8]byte
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if n-1 > uint64(size) {
			return fmt.Errorf("key length %d exceeds the file", n-1)
		}
		key = append(key[:0], make([]byte, n-1)...)
		if _, err := io.ReadFull(r, key); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, d[:]); err != nil {
			return err
		}
		s.dl.lower(string(key), int64(binary.BigEndian.Uint64(d[:]))-s.epoch.UnixNano())
	}
	return nil
}

// syncDir makes the entries of directory path durable (on Windows, the file
// system's journal does: see package durable).
func syncDir(path string) error { return durable.SyncDir(path) }
