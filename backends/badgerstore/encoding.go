package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Key layout. Session keys are opaque bytes, so every badger key starts with a
// one-byte namespace and nothing else is ever parsed out of it.
const (
	recordPrefix = 's' // 's' + session key -> encoded record
	metaPrefix   = 'm' // 'm' + name -> store metadata
)

// formatKey holds the store's format version as a big-endian uint32.
var formatKey = []byte{metaPrefix, 'f', 'o', 'r', 'm', 'a', 't'}

// formatVersion is the on-disk layout this build writes and reads. Bump it
// when the key layout or the record encoding changes incompatibly.
const formatVersion uint32 = 1

func recordKey(key string) []byte {
	k := make([]byte, 1+len(key))
	k[0] = recordPrefix
	copy(k[1:], key)
	return k
}

// Record encoding, version 2 (big-endian):
//
//	[0]      encoding version (2)
//	[1]      flags: 1 = Uninitialized, 2 = Locked
//	[2:6]    Timeout (int32, minutes)
//	[6:10]   LockCookie (int32)
//	[10:18]  LockDate, Unix seconds (int64)
//	[18:22]  LockDate, nanoseconds (uint32)
//	[22:30]  horizon: Unix seconds on the store's clock (int64), an upper
//	         bound of the record's deadline; see doc.go, Expiry
//	[30:34]  CRC-32C of [0:22] and [34:] (the horizon, rewritten in place,
//	         is left out) (issue 17: badger returns an empty or damaged value
//	         without an error when its value log is damaged; the checksum
//	         makes that an error, never a missing or altered session)
//	[34:]    Data
//
// Version 1 is the same without the checksum (Data at [30:]); it is still
// read, so a store written by an older build opens.
const (
	recordEncoding   = 2
	recordEncodingV1 = 1
	headerLen        = 34
	headerLenV1      = 30
	horizonOff       = 22
	crcOff           = 30

	flagUninitialized = 1
	flagLocked        = 2
)

// recordCRC is the checksum of an encoded (version 2) record.
func recordCRC(v []byte) uint32 {
	return crc32.Update(crc32.Checksum(v[:horizonOff], castagnoli), castagnoli, v[headerLen:])
}

// encodeRecord returns a fresh buffer holding rec with the given horizon.
func encodeRecord(rec *backends.Record, horizon int64) []byte {
	b := make([]byte, headerLen+len(rec.Data))
	b[0] = recordEncoding
	if rec.Uninitialized {
		b[1] |= flagUninitialized
	}
	if rec.Locked {
		b[1] |= flagLocked
	}
	binary.BigEndian.PutUint32(b[2:], uint32(rec.Timeout))
	binary.BigEndian.PutUint32(b[6:], uint32(rec.LockCookie))
	binary.BigEndian.PutUint64(b[10:], uint64(rec.LockDate.Unix()))
	binary.BigEndian.PutUint32(b[18:], uint32(rec.LockDate.Nanosecond()))
	binary.BigEndian.PutUint64(b[horizonOff:], uint64(horizon))
	copy(b[headerLen:], rec.Data)
	binary.BigEndian.PutUint32(b[crcOff:], recordCRC(b))
	return b
}

// errDamaged marks a stored record that cannot be read back intact.
var errDamaged = errors.New("corrupt record")

// decodeRecord decodes v. The returned Data aliases v. A record that is
// empty, short or fails its checksum is an error wrapping errDamaged: the
// key exists, so its value is not "no session".
func decodeRecord(v []byte) (rec backends.Record, horizon int64, err error) {
	hl := headerLen
	switch {
	case len(v) == 0:
		return rec, 0, fmt.Errorf("%w: the value could not be read (badger logs why; value log damaged or missing?)", errDamaged)
	case v[0] == recordEncodingV1:
		hl = headerLenV1
	case v[0] != recordEncoding:
		return rec, 0, fmt.Errorf("%w: unknown encoding version %d", errDamaged, v[0])
	}
	if len(v) < hl {
		return rec, 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errDamaged, len(v), hl)
	}
	if hl == headerLen && binary.BigEndian.Uint32(v[crcOff:]) != recordCRC(v) {
		return rec, 0, fmt.Errorf("%w: checksum mismatch (%d bytes)", errDamaged, len(v))
	}
	if v[1]&^(flagUninitialized|flagLocked) != 0 {
		return rec, 0, fmt.Errorf("%w: unknown flags %#x", errDamaged, v[1])
	}
	nsec := binary.BigEndian.Uint32(v[18:])
	if nsec >= 1e9 {
		return rec, 0, fmt.Errorf("%w: lock date nanoseconds %d", errDamaged, nsec)
	}
	rec.Uninitialized = v[1]&flagUninitialized != 0
	rec.Locked = v[1]&flagLocked != 0
	rec.Timeout = int32(binary.BigEndian.Uint32(v[2:]))
	rec.LockCookie = int32(binary.BigEndian.Uint32(v[6:]))
	rec.LockDate = time.Unix(int64(binary.BigEndian.Uint64(v[10:])), int64(nsec)).UTC()
	rec.Data = v[hl:]
	return rec, int64(binary.BigEndian.Uint64(v[horizonOff:])), nil
}

// setHorizon overwrites the horizon of an encoded record in place.
func setHorizon(v []byte, horizon int64) {
	binary.BigEndian.PutUint64(v[horizonOff:], uint64(horizon))
}
