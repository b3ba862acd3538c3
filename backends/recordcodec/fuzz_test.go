package recordcodec

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/aspstate/aspstate/backends"
)

// FuzzDecode feeds arbitrary bytes to Decode and to a Reader: neither may
// panic, and whatever Decode accepts must encode back to a record that
// decodes to the same values and re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range samples()[:4] {
		f.Add(Append(nil, s.key, &s.rec, s.remaining))
	}
	f.Add([]byte{Version, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		key, rec, rem, n, err := Decode(b)
		// The same bytes as a stream never panic either, and agree.
		rkey, rrec, rrem, rerr := NewReader(io.MultiReader(bytes.NewReader([]byte("ASPSREC\x01")), bytes.NewReader(b))).Next()
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Decode error %v wraps neither ErrCorrupt nor io.ErrUnexpectedEOF", err)
			}
			if rerr == nil {
				t.Fatalf("Decode refused (%v) what a Reader accepted", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("Decode used %d of %d bytes", n, len(b))
		}
		if rerr != nil || rkey != key || rrem != rem || !sameRecord(rrec, rec) {
			t.Fatalf("Reader disagrees with Decode: %q %+v %v %v", rkey, rrec, rrem, rerr)
		}
		e := Append(nil, key, &rec, rem)
		key2, rec2, rem2, n2, err := Decode(e)
		if err != nil || n2 != len(e) {
			t.Fatalf("re-encoding does not decode: %v (%d of %d bytes)", err, n2, len(e))
		}
		if key2 != key || rem2 != rem || !sameRecord(rec2, rec) {
			t.Fatalf("round trip changed the record: %q %+v %v -> %q %+v %v", key, rec, rem, key2, rec2, rem2)
		}
		if e2 := Append(nil, key2, &rec2, rem2); !bytes.Equal(e, e2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", e, e2)
		}
	})
}

func sameRecord(a, b backends.Record) bool {
	if !bytes.Equal(a.Data, b.Data) || !a.LockDate.Equal(b.LockDate) {
		return false
	}
	return a.Timeout == b.Timeout && a.LockCookie == b.LockCookie &&
		a.Locked == b.Locked && a.Uninitialized == b.Uninitialized
}
