package peering

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
	"github.com/aspstate/aspstate/locking"
)

// Message kinds on a peer link. Every request and every reply starts with the
// sender's whole view (a few bytes per member), so views spread with traffic
// and a receiver always decides with the newest view either side knows.
const (
	kindOp       byte = 1 // an operation for a key the receiver owns -> result, notOwner or failed
	kindMove     byte = 2 // records for keys the receiver now owns -> moved
	kindPull     byte = 3 // "move this key to me now" -> pulled, notOwner or failed
	kindView     byte = 4 // a view, merged by the receiver -> view
	kindComplete byte = 5 // "I hold nothing you own under this view" -> view

	kindResult   byte = 16
	kindNotOwner byte = 17
	kindFailed   byte = 18
	kindMoved    byte = 19
	kindPulled   byte = 20
)

// Kinds of the farm-wide Mover (mover.go, walk.go; their messages in
// moverwire.go). A member built before them answers kindFailed "unknown
// request kind".
const (
	kindWalk    byte = 10 // the next page of the receiver's records -> walkPage or failed
	kindPeek    byte = 11 // a copy of one record the receiver owns -> peeked, notOwner or failed
	kindInstall byte = 12 // store a record the receiver owns -> installed, notOwner or failed

	kindWalkPage  byte = 24
	kindPeeked    byte = 25
	kindInstalled byte = 26
)

var errMalformed = errors.New("peering: malformed peer message")

// Failure classes carried by kindFailed, so that the sender answers the web
// server exactly as the owner's gateway would have.
const (
	failOther      byte = 0 // the owner's store could not answer: close the client's connection
	failFull       byte = 1 // backends.ErrFull: 400
	failTooLarge   byte = 2 // backends.ErrTooLarge: 400
	failNotServing byte = 3 // the owner is starting or leaving: it did not run the operation
)

func failClass(err error) byte {
	switch {
	case errors.Is(err, backends.ErrFull):
		return failFull
	case errors.Is(err, backends.ErrTooLarge):
		return failTooLarge
	case errors.Is(err, errNotServing):
		return failNotServing
	}
	return failOther
}

// appendNum packs a numeric header: presence and validity in one byte.
func appendNum(dst []byte, n locking.Num) []byte {
	var f byte
	if n.Present {
		f |= 1
	}
	if n.Valid {
		f |= 2
	}
	dst = append(dst, f)
	return binary.BigEndian.AppendUint32(dst, uint32(n.Value))
}

func readNum(b []byte) (locking.Num, []byte, bool) {
	if len(b) < 5 || b[0] > 3 {
		return locking.Num{}, nil, false
	}
	return locking.Num{Present: b[0]&1 != 0, Valid: b[0]&2 != 0, Value: int32(binary.BigEndian.Uint32(b[1:]))}, b[5:], true
}

// appendKey writes a length-prefixed key.
func appendKey(dst []byte, key string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	return append(dst, key...)
}

func readKey(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}

// encodeOp: view, op, the three numeric headers, key, then the body to the
// end. view is the view as appendView encodes it (viewState.enc).
func encodeOp(view []byte, key string, req *locking.Request) []byte {
	b := make([]byte, 0, len(view)+1+3*5+4+len(key)+len(req.Body))
	return appendOp(append(b, view...), key, req)
}

// appendOp appends what encodeOp writes after the view.
func appendOp(b []byte, key string, req *locking.Request) []byte {
	op := byte(req.Op)
	if req.OnlyIfLocked {
		op |= opOnlyIfLocked
	}
	b = append(b, op)
	b = appendNum(b, req.Timeout)
	b = appendNum(b, req.LockCookie)
	b = appendNum(b, req.ExtraFlags)
	b = appendKey(b, key)
	return append(b, req.Body...)
}

// opOnlyIfLocked is set in the operation byte of a Release with
// OnlyIfLocked (the operators' force-unlock). A gateway from before it
// answers such a request as malformed (a failure, never a wrong answer).
const opOnlyIfLocked = 0x80

// decodeOp reads what encodeOp wrote after the view. The body aliases b.
func decodeOp(b []byte) (key string, req locking.Request, err error) {
	if len(b) < 1 {
		return "", req, errMalformed
	}
	req.Op = locking.Op(b[0] &^ opOnlyIfLocked)
	req.OnlyIfLocked = b[0]&opOnlyIfLocked != 0
	if req.Op < locking.OpGet || req.Op > locking.OpResetTimeout || req.OnlyIfLocked && req.Op != locking.OpRelease {
		return "", req, errMalformed
	}
	b = b[1:]
	var ok bool
	for _, n := range []*locking.Num{&req.Timeout, &req.LockCookie, &req.ExtraFlags} {
		if *n, b, ok = readNum(b); !ok {
			return "", req, errMalformed
		}
	}
	if key, b, ok = readKey(b); !ok {
		return "", req, errMalformed
	}
	req.Body = b
	return key, req, nil
}

const (
	resActionFlags = 1 << iota
	resHasLockCookie
	resHasBody
)

// encodeResult: view, status, flags, cookie, timeout, lock date, lock age,
// reason, then the body to the end. view is encoded, as for encodeOp.
func encodeResult(view []byte, r *locking.Result) []byte {
	b := make([]byte, 0, len(view)+2+1+4+4+8+8+4+len(r.Reason)+len(r.Body))
	b = append(b, view...)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Status))
	var f byte
	if r.ActionFlags {
		f |= resActionFlags
	}
	if r.HasLockCookie {
		f |= resHasLockCookie
	}
	if r.HasBody {
		f |= resHasBody
	}
	b = append(b, f)
	b = binary.BigEndian.AppendUint32(b, uint32(r.LockCookie))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Timeout))
	var date int64
	if !r.LockDate.IsZero() {
		date = r.LockDate.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(date))
	b = binary.BigEndian.AppendUint64(b, uint64(r.LockAgeSeconds))
	b = appendKey(b, r.Reason)
	return append(b, r.Body...)
}

// decodeResult reads what encodeResult wrote after the view. The body aliases b.
func decodeResult(b []byte) (locking.Result, error) {
	var r locking.Result
	if len(b) < 2+1+4+4+8+8 {
		return r, errMalformed
	}
	r.Status = int(binary.BigEndian.Uint16(b))
	switch r.Status {
	case 200, 400, 404, 423, locking.StatusNotLocked:
	default:
		return r, errMalformed
	}
	f := b[2]
	r.ActionFlags, r.HasLockCookie, r.HasBody = f&resActionFlags != 0, f&resHasLockCookie != 0, f&resHasBody != 0
	r.LockCookie = int32(binary.BigEndian.Uint32(b[3:]))
	r.Timeout = int32(binary.BigEndian.Uint32(b[7:]))
	if d := int64(binary.BigEndian.Uint64(b[11:])); d != 0 {
		r.LockDate = time.Unix(0, d).UTC()
	}
	r.LockAgeSeconds = int64(binary.BigEndian.Uint64(b[19:]))
	reason, rest, ok := readKey(b[27:])
	if !ok {
		return r, errMalformed
	}
	r.Reason = reason
	if r.HasBody {
		r.Body = rest
	} else if len(rest) != 0 {
		return r, errMalformed
	}
	return r, nil
}

// encodeFailed: view, class, message. The message never names a key.
func encodeFailed(v *View, class byte, msg string) []byte {
	b := appendView(nil, v)
	b = append(b, class)
	return append(b, msg...)
}

// movedRecord is one record of a hand-off batch.
type movedRecord struct {
	key       string
	rec       backends.Record
	remaining time.Duration
}

// encodeMove: view, count, then the records in the shared record codec.
func encodeMove(v *View, recs []movedRecord) []byte {
	size := 1 + 5*len(v.Entries) + 4
	for i := range recs {
		size += 64 + len(recs[i].key) + len(recs[i].rec.Data)
	}
	b := make([]byte, 0, size)
	b = appendView(b, v)
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))
	for i := range recs {
		b = recordcodec.Append(b, recs[i].key, &recs[i].rec, recs[i].remaining)
	}
	return b
}

// maxMoveBatch bounds the records of one move message a receiver accepts.
const maxMoveBatch = 1 << 16

func decodeMove(b []byte) ([]movedRecord, error) {
	if len(b) < 4 {
		return nil, errMalformed
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxMoveBatch {
		return nil, errMalformed
	}
	b = b[4:]
	out := make([]movedRecord, 0, n)
	for i := uint32(0); i < n; i++ {
		key, rec, remaining, used, err := recordcodec.Decode(b)
		if err != nil {
			return nil, errMalformed
		}
		out = append(out, movedRecord{key: key, rec: rec, remaining: remaining})
		b = b[used:]
	}
	if len(b) != 0 {
		return nil, errMalformed
	}
	return out, nil
}

// Per-record answers of a move.
const (
	moveTaken   byte = 0 // stored, or already here from an earlier attempt: the sender deletes its copy
	moveNotMine byte = 1 // the receiver does not own the key in its view: the sender keeps it
	moveFailed  byte = 2 // the receiver's store failed: the sender keeps it and tries again
)

// Answers of a pull.
const (
	pullAbsent byte = 0 // the holder had no such record
	pullMoved  byte = 1 // the holder moved it to the puller, which has it now
)
