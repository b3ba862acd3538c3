package badgerstore

import (
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

// The clean-close mark (issue 17). Badger trusts its MANIFEST: one cut short,
// at a change-set boundary or inside one, opens without an error, and badger
// deletes every table file it no longer lists; every session those tables
// held then answers 404 (all 1,000 of 1,000 in TestTruncatedManifestRefusesToStart).
// So a clean Close, once badger has closed, records the MANIFEST's size and
// CRC-32C in a small file beside it, and Open compares them before badger
// runs: a MANIFEST that changed since refuses to start, naming the file, with
// every table still on disk. Open deletes the mark once badger has opened, so
// that a later crash never finds a stale one; after a crash there is no mark
// and badger's own recovery (a torn last change set is dropped) is trusted.
//
// Format: magic, MANIFEST size (uint64), MANIFEST CRC-32C (uint32), CRC-32C
// of the preceding bytes (uint32); big-endian.
const (
	closeMarkName = "aspstated-closed"
	manifestName  = "MANIFEST"
)

var closeMarkMagic = []byte("aspcl\x00\x00\x01")

const closeMarkLen = 8 + 8 + 4 + 4

// manifestSum returns the size and CRC-32C of dir's MANIFEST.
func manifestSum(dir string) (int64, uint32, error) {
	f, err := os.Open(filepath.Join(dir, manifestName))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	return n, h.Sum32(), err
}

// writeCloseMark records the MANIFEST of the closed database in dir.
func writeCloseMark(dir string) error {
	size, sum, err := manifestSum(dir)
	if err != nil {
		return err
	}
	b := append([]byte(nil), closeMarkMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	b = binary.BigEndian.AppendUint32(b, sum)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	final := filepath.Join(dir, closeMarkName)
	tmp := final + ".tmp"
	defer os.Remove(tmp) // no-op after the rename
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
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
	if err := durable.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

// checkCloseMark compares dir's MANIFEST with the mark of the last clean
// Close, if there is one, before badger opens it. A damaged mark is
// ignored with a warning (the MANIFEST is then not checked).
func (s *Store) checkCloseMark() error {
	name := filepath.Join(s.path, closeMarkName)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) != closeMarkLen || string(b[:8]) != string(closeMarkMagic) ||
		crc32.Checksum(b[:closeMarkLen-4], castagnoli) != binary.BigEndian.Uint32(b[closeMarkLen-4:]) {
		s.cfg.Logger.Warn("badgerstore: ignoring a damaged clean-close mark; the MANIFEST is not checked this time",
			"path", name, "bytes", len(b))
		return nil
	}
	wantSize := int64(binary.BigEndian.Uint64(b[8:]))
	wantSum := binary.BigEndian.Uint32(b[16:])
	size, sum, err := manifestSum(s.path)
	if err != nil {
		return fmt.Errorf("reading the MANIFEST: %w", err)
	}
	if size != wantSize || sum != wantSum {
		return fmt.Errorf("%s changed since the last clean shutdown (then %d bytes, CRC-32C %08x; now %d bytes, %08x): "+
			"it is cut short or damaged, and badger would drop every table it no longer lists (their sessions would answer 404); "+
			"refusing to start. Restore the directory (or the MANIFEST alone) from a backup; if another program (an older "+
			"aspstated, badger's tools) used the directory since, delete %s to start anyway",
			filepath.Join(s.path, manifestName), wantSize, wantSum, size, sum, name)
	}
	return nil
}

// removeCloseMark deletes the mark once badger has opened the checked MANIFEST.
func (s *Store) removeCloseMark() error {
	err := os.Remove(filepath.Join(s.path, closeMarkName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(s.path)
}
