package redisstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/aspstate/aspstate/backends"
)

// A session is one Redis string: a one-line text header, then the blob as
// received. The layout is documented in doc.go; keep the two in step.
//
//	<w> <v> <t> <f> <c> <l> <ld>\n<blob>
//
// w is the write id (exactly widLen hex digits, first, so that the scripts
// can read it with GETRANGE 0 15 without copying the blob); v the number of
// writes; t the timeout in minutes; f and l flags (0 or 1); c the lock
// cookie; ld the lock date in Unix nanoseconds, or "-" for none. The key's
// own expire time (PEXPIRETIME) is the record's deadline, in Unix
// milliseconds of the gateway clock.
const (
	widLen     = 16
	noLockDate = "-"
	maxHeader  = 128 // longer than any header encodeValue writes
)

// errNotRecord: the value under a session key is not one this store wrote.
var errNotRecord = errors.New("value is not a session record")

// casScript writes (ARGV[3] "s") or deletes ("d") a record only if its write
// id is still ARGV[1] ("" for no key) and, when ARGV[4] is not "", the record
// is still live at that gateway time (Unix ms): the transition saw it live,
// and an expired record must read as absent. A write id equal to ARGV[2], the
// token of this very write, means the write already happened: go-redis resent
// the command after a network error hid the first reply. ARGV[5] is the new
// value, ARGV[6] its deadline ("" for none). ARGV[7], when present, is a
// channel to publish ARGV[8], the publishing Store's name, on once written:
// a lock release (releases.go), published only if KEYS[2], when given,
// exists (some gateway waits for this key's release). It returns 1 when
// applied, 0 on conflict (or expiry). It never copies the stored value into
// Lua: GETRANGE reads only the write id.
const casScript = `
local w = redis.call('GETRANGE', KEYS[1], 0, 15)
if w ~= ARGV[1] then
	if w == ARGV[2] then return 1 end
	return 0
end
if ARGV[4] ~= '' then
	local x = redis.call('PEXPIRETIME', KEYS[1])
	if x >= 0 and x < tonumber(ARGV[4]) then return 0 end
end
if ARGV[3] == 'd' then
	redis.call('DEL', KEYS[1])
else
	if ARGV[6] == '' then
		redis.call('SET', KEYS[1], ARGV[5])
	else
		redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[6])
	end
end
if ARGV[7] and (not KEYS[2] or redis.call('EXISTS', KEYS[2]) == 1) then
	redis.call('PUBLISH', ARGV[7], ARGV[8])
end
return 1
`

// readScript reads a record where a MULTI block cannot (a Cluster, or a
// Redis at maxmemory): with ARGV[1] the gateway's time and ARGV[2] the slid
// deadline (both Unix ms), it returns nil for no key, {deadline, value, 0}
// for an expired record, left as it is, and {deadline, value, 1} for a live
// one after sliding it. Deadline -1 means none.
const readScript = `
local e = redis.call('PEXPIRETIME', KEYS[1])
if e == -2 then return false end
if e >= 0 and e < tonumber(ARGV[1]) then
	return {e, redis.call('GET', KEYS[1]), 0}
end
return {e, redis.call('GETEX', KEYS[1], 'PXAT', ARGV[2]), 1}
`

// fixScript sets the deadline of the record whose write id is ARGV[1] to
// ARGV[2] (Unix ms; "" for none), and does nothing if the key holds another
// write. A read slides the deadline by the timeout it expects (Store.timeout)
// before it sees the record; this puts it right when the record's own
// timeout differs, or when the record turned out to be expired already (the
// slide is undone, so that an expired record is never brought back). Rare:
// it costs one more round trip.
const fixScript = `
if redis.call('GETRANGE', KEYS[1], 0, 15) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
	redis.call('PERSIST', KEYS[1])
else
	redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
`

// stored is a decoded value: the record, its write id and write count.
type stored struct {
	rec     backends.Record
	wid     string
	version int64
}

// encodeValue returns the value for rec with write id wid and write count v.
func encodeValue(rec *backends.Record, wid string, v int64) []byte {
	b := make([]byte, 0, widLen+48+len(rec.Data))
	b = append(b, wid...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, v, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(rec.Timeout), 10)
	b = append(b, ' ', flag(rec.Uninitialized), ' ')
	b = strconv.AppendInt(b, int64(rec.LockCookie), 10)
	b = append(b, ' ', flag(rec.Locked), ' ')
	if rec.LockDate.IsZero() {
		b = append(b, noLockDate...)
	} else {
		b = strconv.AppendInt(b, rec.LockDate.UnixNano(), 10)
	}
	b = append(b, '\n')
	return append(b, rec.Data...)
}

func flag(b bool) byte {
	if b {
		return '1'
	}
	return '0'
}

// decodeValue parses a stored value. The record's Data is a fresh copy,
// unless private says that val's memory is the caller's alone (the store's
// own reply reader allocated it and nothing else holds it): then Data uses
// that memory, which saves copying every session read. Nothing writes to a
// record's Data (backends.StableData), so the string stays unchanged.
func decodeValue(val string, private bool) (stored, error) {
	nl := strings.IndexByte(val[:min(len(val), maxHeader)], '\n')
	if nl < widLen+1 || val[widLen] != ' ' {
		return stored{}, errNotRecord
	}
	var f [6]string
	rest := val[widLen+1 : nl]
	for i := range f {
		sp := len(rest)
		if i < len(f)-1 {
			if sp = strings.IndexByte(rest, ' '); sp < 0 {
				return stored{}, errNotRecord
			}
		}
		f[i], rest = rest[:sp], rest[min(sp+1, len(rest)):]
	}
	var s stored
	var err error
	s.wid = val[:widLen]
	if s.version, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return stored{}, fmt.Errorf("write count: %w", err)
	}
	timeout, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil {
		return stored{}, fmt.Errorf("timeout: %w", err)
	}
	cookie, err := strconv.ParseInt(f[3], 10, 32)
	if err != nil {
		return stored{}, fmt.Errorf("lock cookie: %w", err)
	}
	s.rec.Timeout, s.rec.LockCookie = int32(timeout), int32(cookie)
	s.rec.Uninitialized = f[2] == "1"
	s.rec.Locked = f[4] == "1"
	if f[5] != noLockDate {
		ns, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			return stored{}, fmt.Errorf("lock date: %w", err)
		}
		s.rec.LockDate = time.Unix(0, ns).UTC()
	}
	if data := val[nl+1:]; private && len(data) > 0 {
		s.rec.Data = unsafe.Slice(unsafe.StringData(data), len(data))
	} else {
		s.rec.Data = []byte(data)
	}
	return s, nil
}

// expiryAt returns the Unix ms deadline of a record with timeout minutes
// written or read at now, and false for a record that never expires.
func expiryAt(timeout int32, now time.Time) (int64, bool) {
	if timeout <= 0 {
		return 0, false
	}
	return now.UnixMilli() + int64(timeout)*60000, true
}
