package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aspstate/aspstate/backends/internal/durable"
)

// Write-ahead log. See "Write-ahead log and checkpoints" in doc.go.
//
// A segment file is <path>.wal.<seq, 16 hex digits>: an 8-byte header
// (walMagic), then records:
//
//	[0:4]  payload length uint32
//	[4:8]  CRC-32C of the payload
//	[8:]   payload: op byte, key length uint32, key, and for a store the
//	       deadline int64, timeout int32 and the encoded record (encoding.go)
//
// Integers are big endian. Replay stops at the first short or bad record of
// the last segment (a torn tail: never acknowledged); one in an earlier
// segment is corruption and refuses Open.
var walMagic = []byte("aspWAL\x00\x01")

const (
	walOpStore  = 1
	walOpDelete = 2

	walRecHeader = 8
	// walMaxRecord bounds a record's payload; anything longer is garbage.
	walMaxRecord = 1<<31 - 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// faults injects write failures into the log in tests. Nil in production.
type faults struct {
	failWrite atomic.Bool // the next appends fail as a full disk would
	failSync  atomic.Bool // the next appends fail at fdatasync
}

var errInjected = errors.New("injected failure: no space left on device")

// segment is one open log file, owned by the writer goroutine while it is the
// live segment and by the checkpointer once retired.
type segment struct {
	f    *os.File
	seq  uint64
	path string
	off  int64 // end of the last good (acknowledged) record
	// broken is set when a failed append could not be undone; appends fail
	// until a truncate succeeds.
	broken error
}

func segmentPath(db string, seq uint64) string {
	return fmt.Sprintf("%s.wal.%016x", db, seq)
}

// listSegments returns the sequence numbers of db's log segments, ascending.
func listSegments(db string) ([]uint64, error) {
	dir, base := filepath.Split(db)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	prefix := base + ".wal."
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || len(name) != len(prefix)+16 {
			continue
		}
		seq, err := strconv.ParseUint(name[len(prefix):], 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// createSegment creates segment seq with its header and makes both the file
// and its directory entry durable (when sync), so that records appended to
// it survive a power loss once they are synced themselves.
func createSegment(db string, seq uint64, sync bool, fl *faults) (*segment, error) {
	path := segmentPath(db, seq)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	seg := &segment{f: f, seq: seq, path: path}
	if err := seg.append(walMagic, sync, fl); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	if sync {
		if err := syncDir(path); err != nil {
			_ = f.Close()
			_ = os.Remove(path)
			return nil, err
		}
	}
	return seg, nil
}

// append writes buf at the end of the good records and, when sync, waits for
// fdatasync. On failure it truncates the file back, so a failed batch never
// stays in the log ahead of later ones; if even that fails the segment is
// broken until a later truncate works.
func (seg *segment) append(buf []byte, sync bool, fl *faults) error {
	if seg.broken != nil {
		if err := seg.f.Truncate(seg.off); err != nil {
			return fmt.Errorf("log %s unusable since an earlier failure (%v): %w", seg.path, seg.broken, err)
		}
		seg.broken = nil
	}
	err := func() error {
		if fl != nil && fl.failWrite.Load() {
			return errInjected
		}
		if _, err := seg.f.WriteAt(buf, seg.off); err != nil {
			return err
		}
		if fl != nil && fl.failSync.Load() {
			return errInjected
		}
		if sync {
			return fdatasync(seg.f)
		}
		return nil
	}()
	if err != nil {
		if terr := seg.f.Truncate(seg.off); terr != nil {
			seg.broken = err
		}
		return fmt.Errorf("append to log %s: %w", seg.path, err)
	}
	seg.off += int64(len(buf))
	return nil
}

// appendStore encodes a store record onto buf.
func appendStore(buf, key []byte, deadline int64, timeout int32, val []byte) []byte {
	n := 1 + 4 + len(key) + 8 + 4 + len(val)
	buf, p := grow(buf, walRecHeader+n)
	p[walRecHeader] = walOpStore
	q := p[walRecHeader+1:]
	binary.BigEndian.PutUint32(q, uint32(len(key)))
	q = q[4+copy(q[4:], key):]
	binary.BigEndian.PutUint64(q, uint64(deadline))
	binary.BigEndian.PutUint32(q[8:], uint32(timeout))
	copy(q[12:], val)
	sealRecord(p)
	return buf
}

// appendDelete encodes a delete record onto buf.
func appendDelete(buf, key []byte) []byte {
	n := 1 + 4 + len(key)
	buf, p := grow(buf, walRecHeader+n)
	p[walRecHeader] = walOpDelete
	binary.BigEndian.PutUint32(p[walRecHeader+1:], uint32(len(key)))
	copy(p[walRecHeader+5:], key)
	sealRecord(p)
	return buf
}

// grow extends buf by n bytes and returns the new tail.
func grow(buf []byte, n int) ([]byte, []byte) {
	buf = slices.Grow(buf, n)
	l := len(buf)
	buf = buf[:l+n]
	return buf, buf[l:]
}

func sealRecord(p []byte) {
	payload := p[walRecHeader:]
	binary.BigEndian.PutUint32(p, uint32(len(payload)))
	binary.BigEndian.PutUint32(p[4:], crc32.Checksum(payload, crcTable))
}

// walRecord is one decoded record; key and val alias the segment's bytes.
type walRecord struct {
	del      bool
	key      []byte
	deadline int64
	timeout  int32
	val      []byte
}

// parseSegment decodes data. It returns the records before the first bad
// one and whether the data ended cleanly (no torn or bad bytes after them).
func parseSegment(data []byte) (recs []walRecord, clean bool) {
	if len(data) < len(walMagic) || string(data[:len(walMagic)]) != string(walMagic) {
		return nil, false
	}
	data = data[len(walMagic):]
	for len(data) > 0 {
		if len(data) < walRecHeader {
			return recs, false
		}
		n := binary.BigEndian.Uint32(data)
		if n > walMaxRecord || int64(n) > int64(len(data)-walRecHeader) {
			return recs, false
		}
		payload := data[walRecHeader : walRecHeader+int(n)]
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(data[4:]) {
			return recs, false
		}
		rec, ok := decodeWALPayload(payload)
		if !ok {
			return recs, false
		}
		recs = append(recs, rec)
		data = data[walRecHeader+int(n):]
	}
	return recs, true
}

func decodeWALPayload(p []byte) (walRecord, bool) {
	if len(p) < 5 {
		return walRecord{}, false
	}
	op, klen := p[0], binary.BigEndian.Uint32(p[1:])
	p = p[5:]
	if klen == 0 || uint64(klen) > uint64(len(p)) {
		return walRecord{}, false
	}
	rec := walRecord{key: p[:klen]}
	p = p[klen:]
	switch op {
	case walOpDelete:
		rec.del = true
		return rec, len(p) == 0
	case walOpStore:
		if len(p) < 12+recordHeaderLen {
			return walRecord{}, false
		}
		rec.deadline = int64(binary.BigEndian.Uint64(p))
		rec.timeout = int32(binary.BigEndian.Uint32(p[8:]))
		rec.val = p[12:]
		return rec, true
	}
	return walRecord{}, false
}

// syncDir makes the directory entry of path durable (on Windows, the file
// system's journal does: see package durable).
func syncDir(path string) error { return durable.SyncDir(filepath.Dir(path)) }

// removeSegment deletes a checkpointed segment. With sync it waits until the
// removal is durable before the caller removes the next one, so that the
// segments left after any crash are always the newest ones (see doc.go).
func removeSegment(path string, sync bool) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if sync {
		return syncDir(path)
	}
	return nil
}
