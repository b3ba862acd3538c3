package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// File layout. See "File format and key layout" in doc.go.
var (
	bucketMeta      = []byte("aspstate.meta")
	bucketSessions  = []byte("sessions")
	bucketDeadlines = []byte("deadlines")

	metaFormat  = []byte("format")  // uint32: formatVersion
	metaClean   = []byte("clean")   // 1 byte: 1 after Close, 0 while open
	metaFlushed = []byte("flushed") // int64 ns: snapshot time of the last deadline flush
	metaLease   = []byte("lease")   // int64 ns: reads before it need no flush (see doc.go)
	metaCovered = []byte("covered") // int64: log segments up to this one were checkpointed at the last flush
)

// formatVersion is the version of the file layout and encodings below. A file
// with a higher version was written by a newer build and is refused.
const formatVersion = 1

// Record encoding, version 1 (big endian):
//
//	[0]     record encoding version (1)
//	[1]     flags: 1 uninitialized, 2 locked, 4 has lock date
//	[2:6]   Timeout int32
//	[6:10]  LockCookie int32
//	[10:18] LockDate Unix seconds int64
//	[18:22] LockDate nanoseconds int32
//	[22:]   Data
const (
	recordVersion   = 1
	recordHeaderLen = 22

	flagUninitialized = 1 << 0
	flagLocked        = 1 << 1
	flagLockDate      = 1 << 2
)

var errBadRecord = errors.New("boltstore: corrupt record")

// encodeRecord returns a new buffer holding r; it copies r.Data, so r may
// alias the memory map.
func encodeRecord(r *backends.Record) []byte {
	b := make([]byte, recordHeaderLen+len(r.Data))
	b[0] = recordVersion
	var flags byte
	if r.Uninitialized {
		flags |= flagUninitialized
	}
	if r.Locked {
		flags |= flagLocked
	}
	if !r.LockDate.IsZero() {
		flags |= flagLockDate
		binary.BigEndian.PutUint64(b[10:], uint64(r.LockDate.Unix()))
		binary.BigEndian.PutUint32(b[18:], uint32(r.LockDate.Nanosecond()))
	}
	b[1] = flags
	binary.BigEndian.PutUint32(b[2:], uint32(r.Timeout))
	binary.BigEndian.PutUint32(b[6:], uint32(r.LockCookie))
	copy(b[recordHeaderLen:], r.Data)
	return b
}

// decodeRecord decodes v without copying: Data aliases v (the memory map).
func decodeRecord(v []byte) (backends.Record, error) {
	if len(v) < recordHeaderLen {
		return backends.Record{}, fmt.Errorf("%w: %d bytes", errBadRecord, len(v))
	}
	if v[0] != recordVersion {
		return backends.Record{}, fmt.Errorf("%w: encoding version %d", errBadRecord, v[0])
	}
	flags := v[1]
	r := backends.Record{
		Data:          v[recordHeaderLen:len(v):len(v)],
		Timeout:       int32(binary.BigEndian.Uint32(v[2:])),
		Uninitialized: flags&flagUninitialized != 0,
		Locked:        flags&flagLocked != 0,
		LockCookie:    int32(binary.BigEndian.Uint32(v[6:])),
	}
	if flags&flagLockDate != 0 {
		r.LockDate = time.Unix(int64(binary.BigEndian.Uint64(v[10:])),
			int64(binary.BigEndian.Uint32(v[18:]))).UTC()
	}
	return r, nil
}

// Deadline entry: the deadline (Unix ns, int64) then Timeout (int32), both big
// endian. Kept apart from the record so that Open reads 12 bytes per session
// and never touches the pages holding the blobs.
const deadlineLen = 12

// encodeDeadline writes into b[:deadlineLen] and returns that slice.
func encodeDeadline(b []byte, deadline int64, timeout int32) []byte {
	b = b[:deadlineLen:deadlineLen]
	binary.BigEndian.PutUint64(b[0:], uint64(deadline))
	binary.BigEndian.PutUint32(b[8:], uint32(timeout))
	return b
}

func decodeDeadline(v []byte) (deadline int64, timeout int32, ok bool) {
	if len(v) != deadlineLen {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), int32(binary.BigEndian.Uint32(v[8:])), true
}

// ttlNanos is a record's sliding timeout. A timeout of 0 or less never
// expires, as the reference server's cache treats Timeout: 0 (the gateway
// rejects it before it gets here).
func ttlNanos(timeout int32) int64 {
	if timeout <= 0 {
		return math.MaxInt64
	}
	return int64(timeout) * int64(time.Minute)
}

// deadlineAt is now + the record's timeout, saturating.
func deadlineAt(now int64, timeout int32) int64 {
	ttl := ttlNanos(timeout)
	if now > math.MaxInt64-ttl {
		return math.MaxInt64
	}
	return now + ttl
}

func putInt64(v int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(v))
}

func getInt64(v []byte) (int64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}
