package peering

import (
	"encoding/binary"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

// Messages of the farm-wide Mover. Like every peer message they start with
// the sender's view (written by the caller of these encoders, read by handle
// and call). Records travel in the shared record codec with their remaining
// lifetime; the receiver adds it to its own clock.

// maxRemaining bounds a remaining lifetime on the wire: twice the longest
// session timeout (525600 minutes), far from overflowing a deadline.
const maxRemaining = 2 * 525600 * time.Minute

func validRemaining(d time.Duration) bool { return d > 0 && d <= maxRemaining }

// Walk request flags.
const (
	walkStop byte = 1 // the caller gives up: free the walk, send nothing
)

// Walk page flags.
const (
	pageLast    byte = 1 // the walk is over: no page follows
	pageSettled byte = 2 // the sender's hand-off for its current view is complete
)

// appendWalkReq: walk ID, page number, flags.
func appendWalkReq(dst []byte, id uint64, seq uint32, flags byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	return append(dst, flags)
}

func decodeWalkReq(b []byte) (id uint64, seq uint32, flags byte, err error) {
	if len(b) != 8+4+1 || b[12]&^walkStop != 0 {
		return 0, 0, 0, errMalformed
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), b[12], nil
}

// maxWalkPage bounds the records of one walk page a caller accepts (a
// sender's pages hold far fewer: see backends.WalkPage).
const maxWalkPage = 1 << 16

// walkPageHead reserves a page's header (flags, count) after the view; the
// count is filled in by finishWalkPage once the records are appended.
func walkPageHead(dst []byte, flags byte) (b []byte, at int) {
	dst = append(dst, flags)
	at = len(dst)
	return binary.BigEndian.AppendUint32(dst, 0), at
}

func finishWalkPage(b []byte, at int, count uint32) []byte {
	binary.BigEndian.PutUint32(b[at:], count)
	return b
}

// encodeWalkPage writes a whole page (tests and small pages).
func encodeWalkPage(v *View, flags byte, recs []movedRecord) []byte {
	b, at := walkPageHead(appendView(nil, v), flags)
	for i := range recs {
		b = recordcodec.Append(b, recs[i].key, &recs[i].rec, recs[i].remaining)
	}
	return finishWalkPage(b, at, uint32(len(recs)))
}

// decodeWalkPage reads what walkPageHead and the records wrote after the
// view. Records' Data alias b.
func decodeWalkPage(b []byte) (flags byte, recs []movedRecord, err error) {
	if len(b) < 1+4 || b[0]&^(pageLast|pageSettled) != 0 {
		return 0, nil, errMalformed
	}
	flags = b[0]
	n := binary.BigEndian.Uint32(b[1:])
	if n > maxWalkPage {
		return 0, nil, errMalformed
	}
	b = b[5:]
	recs = make([]movedRecord, 0, min(n, 1024))
	for i := uint32(0); i < n; i++ {
		key, rec, remaining, used, err := recordcodec.Decode(b)
		if err != nil || !validRemaining(remaining) {
			return 0, nil, errMalformed
		}
		recs = append(recs, movedRecord{key: key, rec: rec, remaining: remaining})
		b = b[used:]
	}
	if len(b) != 0 {
		return 0, nil, errMalformed
	}
	return flags, recs, nil
}

// encodePeeked: view, found (0 or 1), then the record when found.
func encodePeeked(v *View, key string, rec *backends.Record, remaining time.Duration) []byte {
	b := appendView(nil, v)
	if rec == nil {
		return append(b, 0)
	}
	return recordcodec.Append(append(b, 1), key, rec, remaining)
}

// decodePeeked reads what encodePeeked wrote after the view; found is false
// for an absent record. Data aliases b.
func decodePeeked(b []byte) (found bool, key string, rec backends.Record, remaining time.Duration, err error) {
	if len(b) == 1 && b[0] == 0 {
		return false, "", rec, 0, nil
	}
	if len(b) < 1 || b[0] != 1 {
		return false, "", rec, 0, errMalformed
	}
	key, rec, remaining, used, err := recordcodec.Decode(b[1:])
	if err != nil || used != len(b)-1 || !validRemaining(remaining) {
		return false, "", backends.Record{}, 0, errMalformed
	}
	return true, key, rec, remaining, nil
}

// Install request flags.
const installReplace byte = 1

// encodeInstall: view, flags, the record.
func encodeInstall(v *View, key string, rec *backends.Record, remaining time.Duration, replace bool) []byte {
	b := make([]byte, 0, 1+5*len(v.Entries)+1+64+len(key)+len(rec.Data))
	b = appendView(b, v)
	var f byte
	if replace {
		f |= installReplace
	}
	return recordcodec.Append(append(b, f), key, rec, remaining)
}

func decodeInstall(b []byte) (key string, rec backends.Record, remaining time.Duration, replace bool, err error) {
	if len(b) < 1 || b[0]&^installReplace != 0 {
		return "", rec, 0, false, errMalformed
	}
	replace = b[0]&installReplace != 0
	key, rec, remaining, used, err := recordcodec.Decode(b[1:])
	if err != nil || used != len(b)-1 || !validRemaining(remaining) {
		return "", backends.Record{}, 0, false, errMalformed
	}
	return key, rec, remaining, replace, nil
}
