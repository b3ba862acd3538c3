package redisstore

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Hash fields of a session record. The layout is documented in doc.go; keep
// the two in step.
const (
	fData     = "d"  // blob, as received
	fTimeout  = "t"  // sliding timeout, minutes, decimal
	fFlags    = "f"  // "1" while the item is uninitialized, else "0"
	fCookie   = "c"  // lock cookie, decimal
	fLocked   = "l"  // "1" while locked, else "0"
	fLockDate = "ld" // lock date, Unix nanoseconds UTC, decimal; "" for none
	fDeadline = "x"  // deadline, Unix milliseconds of the gateway clock; "" for none
	fWriteID  = "w"  // compare-and-set token, random per write
	fVersion  = "v"  // number of writes since the hash was created
)

// readScript is step 1 of Apply: in one round trip it reads the record, hides
// it if the gateway clock (ARGV[1], Unix ms) is past its deadline, and
// otherwise slides the deadline and the native TTL. It returns nil for no
// hash, {0, w} for an expired record (its write id is still needed to replace
// it), or {live, w, d, t, f, c, l, ld} where live is 1, or 2 if Redis refused
// the slide (maxmemory with noeviction denies every write, even this one; the
// read still answers, and the two deadlines stay equal).
const readScript = `
local r = redis.call('HMGET', KEYS[1], 'w', 'x', 't', 'd', 'f', 'c', 'l', 'ld')
if not r[1] then return false end
local now = tonumber(ARGV[1])
local x = tonumber(r[2])
if x and x < now then return {0, r[1]} end
local live = 1
local t = tonumber(r[3])
if t and t > 0 then
	local ttl = t * 60000
	local res = redis.pcall('HSET', KEYS[1], 'x', string.format('%.0f', now + ttl))
	if type(res) == 'table' and res.err then
		live = 2
	else
		redis.call('PEXPIRE', KEYS[1], ttl)
	end
end
return {live, r[1], r[4], r[3], r[5], r[6], r[7], r[8]}
`

// casScript is step 3: it writes (ARGV[3] "s") or deletes ("d") the record
// only if its write id is still ARGV[1] ("" for no hash) and, when ARGV[4] is
// not "", the record is still live at that gateway time (Unix ms): the
// transition saw it live, and an expired record must read as absent. A write
// id equal to ARGV[2], the token of this very write, means the write already
// happened: go-redis resent the command after a network error that hid the
// first reply. It returns 1 when applied, 0 on conflict (or expiry).
// Store arguments: ARGV[5..10] = d t f c l ld, ARGV[11] deadline ("" for
// none), ARGV[12] TTL in ms ("" for none).
const casScript = `
local r = redis.call('HMGET', KEYS[1], 'w', 'v', 'x')
local w = r[1] or ''
if w ~= ARGV[1] then
	if w == ARGV[2] then return 1 end
	return 0
end
if ARGV[4] ~= '' then
	local x = tonumber(r[3])
	if x and x < tonumber(ARGV[4]) then return 0 end
end
if ARGV[3] == 'd' then
	redis.call('DEL', KEYS[1])
	return 1
end
local v = (tonumber(r[2]) or 0) + 1
redis.call('HSET', KEYS[1], 'w', ARGV[2], 'v', string.format('%.0f', v),
	'd', ARGV[5], 't', ARGV[6], 'f', ARGV[7], 'c', ARGV[8], 'l', ARGV[9], 'ld', ARGV[10])
if ARGV[12] == '' then
	redis.call('HDEL', KEYS[1], 'x')
	redis.call('PERSIST', KEYS[1])
else
	redis.call('HSET', KEYS[1], 'x', ARGV[11])
	redis.call('PEXPIRE', KEYS[1], ARGV[12])
end
return 1
`

// decodeRead turns readScript's reply into the live record (nil when absent
// or expired), the write id the CAS must expect, and whether the expiry slid.
func decodeRead(reply []any) (rec *backends.Record, wid string, slid bool, err error) {
	if len(reply) < 2 {
		return nil, "", false, fmt.Errorf("read script returned %d values", len(reply))
	}
	wid, _ = reply[1].(string)
	live, _ := reply[0].(int64)
	if live == 0 {
		return nil, wid, false, nil
	}
	if len(reply) != 8 {
		return nil, "", false, fmt.Errorf("read script returned %d values", len(reply))
	}
	rec, err = decodeRecord(reply)
	return rec, wid, live == 1, err
}

// decodeRecord decodes fields d t f c l ld from reply[2:8].
func decodeRecord(reply []any) (*backends.Record, error) {
	str := func(i int) string { s, _ := reply[i].(string); return s }
	rec := &backends.Record{Data: []byte(str(2))}
	timeout, err := parseInt32(fTimeout, str(3))
	if err != nil {
		return nil, err
	}
	cookie, err := parseInt32(fCookie, str(5))
	if err != nil {
		return nil, err
	}
	rec.Timeout, rec.LockCookie = timeout, cookie
	rec.Uninitialized = str(4) == "1"
	rec.Locked = str(6) == "1"
	if ld := str(7); ld != "" {
		ns, err := strconv.ParseInt(ld, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", fLockDate, err)
		}
		rec.LockDate = time.Unix(0, ns).UTC()
	}
	return rec, nil
}

func parseInt32(field, s string) (int32, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("field %s: %w", field, err)
	}
	return int32(n), nil
}

// storeArgs encodes rec for casScript (ARGV[5..12]); now is the gateway clock.
func storeArgs(rec *backends.Record, now time.Time) []any {
	ld := ""
	if !rec.LockDate.IsZero() {
		ld = strconv.FormatInt(rec.LockDate.UnixNano(), 10)
	}
	deadline, ttl := "", ""
	if rec.Timeout > 0 {
		ms := int64(rec.Timeout) * 60000
		deadline = strconv.FormatInt(now.UnixMilli()+ms, 10)
		ttl = strconv.FormatInt(ms, 10)
	}
	return []any{
		rec.Data, // []byte: go-redis sends it as is, binary-safe
		strconv.FormatInt(int64(rec.Timeout), 10),
		flag(rec.Uninitialized),
		strconv.FormatInt(int64(rec.LockCookie), 10),
		flag(rec.Locked),
		ld, deadline, ttl,
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
