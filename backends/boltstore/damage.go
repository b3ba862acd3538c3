package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Damage a crash cannot explain (issue 17). A crash can leave only a torn
// tail: the last append of the newest segment, cut short. A bad record
// followed by a good one is damage to acknowledged writes: Open stops, naming
// the segment, and deletes nothing (replay deletes segments only after every
// one was applied). A data file of 0 bytes, or shorter than bbolt's own
// high-water mark (truncated), is refused the same way instead of starting
// empty or faulting on the first read beyond its end.

// walStart is the offset of the first record of a segment.
var walStart = len(walMagic)

// goodRecordAfter reports whether a valid record starts anywhere after
// offset bad (an offset into data, the whole segment): if so, the damage at
// bad is not a torn tail. Candidates are screened by their framing before
// their checksum, so the scan stays cheap on garbage.
func goodRecordAfter(data []byte, bad int) bool {
	for o := bad + 1; o+walRecHeader+5 <= len(data); o++ {
		n := int(binary.BigEndian.Uint32(data[o:]))
		if n < 5 || n > len(data)-o-walRecHeader {
			continue
		}
		p := data[o+walRecHeader : o+walRecHeader+n]
		if p[0] != walOpStore && p[0] != walOpDelete {
			continue
		}
		if k := binary.BigEndian.Uint32(p[1:]); k == 0 || int(k) > n-5 {
			continue
		}
		if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(data[o+4:]) {
			continue
		}
		if _, ok := decodeWALPayload(p); ok {
			return true
		}
	}
	return false
}

// parsedLen is the number of bytes recs take at the start of a segment.
func parsedLen(recs []walRecord, data []byte) int {
	o := walStart
	for range recs {
		o += walRecHeader + int(binary.BigEndian.Uint32(data[o:]))
	}
	return o
}

// checkDataFile refuses a data file that exists but is empty: bbolt would
// lay out a new, empty store over it without a word.
func checkDataFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 0 {
		return nil // absent (a new store), or bbolt says what is wrong
	}
	return fmt.Errorf("boltstore: open %s: the data file is empty (0 bytes), not a session store: "+
		"restore it from a backup, or delete it to start with no sessions", path)
}

// checkSize refuses a data file shorter than the pages bbolt's meta page
// says it has: reading them through the memory map would fault.
func checkSize(db *bolt.DB, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	var want int64
	if err := db.View(func(tx *bolt.Tx) error { want = tx.Size(); return nil }); err != nil {
		return err
	}
	if fi.Size() < want {
		return fmt.Errorf("truncated data file: %d bytes, but its pages reach %d bytes; restore it from a backup", fi.Size(), want)
	}
	return nil
}
