package recordcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Version is the record encoding this build writes; Decode refuses others.
const Version = 1

// Limits on what Decode and Reader accept, checked before allocating. Append
// does not check them: Writer.Write does, and so must a caller of Append that
// might be handed more (the gateway's limits are far below).
const (
	// MaxKeyLen is the longest key, in bytes (bbolt's limit is 32 KiB).
	MaxKeyLen = 64 << 10
	// MaxDataLen is the longest Record.Data, in bytes (the gateway's default
	// body limit is 20 MiB).
	MaxDataLen = 64 << 20
)

// ErrCorrupt is wrapped by every error about input that is not a valid
// record (a short input gives io.ErrUnexpectedEOF instead).
var ErrCorrupt = errors.New("recordcodec: corrupt record")

// ErrTooLarge is returned by Writer.Write for a key or Data over the limits.
var ErrTooLarge = errors.New("recordcodec: key or data over the limit")

const (
	flagUninitialized = 1 << 0
	flagLocked        = 1 << 1
	flagLockDate      = 1 << 2
	knownFlags        = flagUninitialized | flagLocked | flagLockDate

	// fixedLen is flags, Timeout, LockCookie, LockDate (seconds and
	// nanoseconds) and remaining.
	fixedLen = 1 + 4 + 4 + 8 + 4 + 8
)

// Append appends the encoding of key, rec and remaining to dst and returns
// the extended buffer. It copies rec.Data; dst may be nil.
func Append(dst []byte, key string, rec *backends.Record, remaining time.Duration) []byte {
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	var flags byte
	if rec.Uninitialized {
		flags |= flagUninitialized
	}
	if rec.Locked {
		flags |= flagLocked
	}
	var sec int64
	var nsec uint32
	if !rec.LockDate.IsZero() {
		flags |= flagLockDate
		sec, nsec = rec.LockDate.Unix(), uint32(rec.LockDate.Nanosecond())
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint32(dst, uint32(rec.Timeout))
	dst = binary.BigEndian.AppendUint32(dst, uint32(rec.LockCookie))
	dst = binary.BigEndian.AppendUint64(dst, uint64(sec))
	dst = binary.BigEndian.AppendUint32(dst, nsec)
	dst = binary.BigEndian.AppendUint64(dst, uint64(remaining))
	dst = binary.AppendUvarint(dst, uint64(len(rec.Data)))
	return append(dst, rec.Data...)
}

// Decode decodes one record from the start of b and reports how many bytes it used.
// The returned key is a fresh string; rec.Data aliases b (capped at its own
// length), so copy it before reusing b. Data is never nil. A b that ends
// inside the record gives an error wrapping io.ErrUnexpectedEOF; anything
// else that is not a valid record, one wrapping ErrCorrupt.
func Decode(b []byte) (key string, rec backends.Record, remaining time.Duration, n int, err error) {
	key, rec, remaining, dataLen, n, err := decodeHead(b)
	if err != nil {
		return "", backends.Record{}, 0, 0, err
	}
	if uint64(len(b)-n) < dataLen {
		return "", backends.Record{}, 0, 0, fmt.Errorf("recordcodec: %d of %d data bytes: %w", len(b)-n, dataLen, io.ErrUnexpectedEOF)
	}
	end := n + int(dataLen)
	rec.Data = b[n:end:end]
	return key, rec, remaining, end, nil
}

// decodeHead decodes everything before the data: the fields, the data's
// length (within MaxDataLen) and the head's length.
func decodeHead(b []byte) (key string, rec backends.Record, remaining time.Duration, dataLen uint64, n int, err error) {
	fail := func(e error) (string, backends.Record, time.Duration, uint64, int, error) {
		return "", backends.Record{}, 0, 0, 0, e
	}
	if len(b) == 0 {
		return fail(fmt.Errorf("recordcodec: empty input: %w", io.ErrUnexpectedEOF))
	}
	if b[0] != Version {
		return fail(fmt.Errorf("%w: encoding version %d, want %d", ErrCorrupt, b[0], Version))
	}
	p := 1
	keyLen, w := binary.Uvarint(b[p:])
	switch {
	case w == 0:
		return fail(fmt.Errorf("recordcodec: key length: %w", io.ErrUnexpectedEOF))
	case w < 0 || keyLen > MaxKeyLen:
		return fail(fmt.Errorf("%w: key length over %d bytes", ErrCorrupt, MaxKeyLen))
	}
	p += w
	if uint64(len(b)-p) < keyLen+fixedLen {
		return fail(fmt.Errorf("recordcodec: key and fields: %w", io.ErrUnexpectedEOF))
	}
	key = string(b[p : p+int(keyLen)])
	p += int(keyLen)

	f := b[p : p+fixedLen]
	flags := f[0]
	if flags&^knownFlags != 0 {
		return fail(fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags))
	}
	rec.Uninitialized = flags&flagUninitialized != 0
	rec.Locked = flags&flagLocked != 0
	rec.Timeout = int32(binary.BigEndian.Uint32(f[1:]))
	rec.LockCookie = int32(binary.BigEndian.Uint32(f[5:]))
	sec := int64(binary.BigEndian.Uint64(f[9:]))
	nsec := binary.BigEndian.Uint32(f[17:])
	if flags&flagLockDate != 0 {
		if nsec >= 1e9 {
			return fail(fmt.Errorf("%w: lock date nanoseconds %d", ErrCorrupt, nsec))
		}
		rec.LockDate = time.Unix(sec, int64(nsec)).UTC()
	} else if sec != 0 || nsec != 0 {
		return fail(fmt.Errorf("%w: a lock date without its flag", ErrCorrupt))
	}
	remaining = time.Duration(binary.BigEndian.Uint64(f[21:]))
	p += fixedLen

	dataLen, w = binary.Uvarint(b[p:])
	switch {
	case w == 0:
		return fail(fmt.Errorf("recordcodec: data length: %w", io.ErrUnexpectedEOF))
	case w < 0 || dataLen > MaxDataLen:
		return fail(fmt.Errorf("%w: data length over %d bytes", ErrCorrupt, MaxDataLen))
	}
	return key, rec, remaining, dataLen, p + w, nil
}
