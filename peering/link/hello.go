package link

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// protocolVersion is sent in every hello; a peer with another version is refused.
const protocolVersion = 1

// hello is the first message on a link, sent by both sides after TLS.
//
//	u8  version
//	u16 len(id), id
//	[32]byte SHA-256 of the member list
//	u32 len(members), members ("id=host:port" sorted, comma separated; not secret, logged on mismatch)
//	app payload (the rest)
type hello struct {
	version byte
	id      string
	digest  [32]byte
	members string
	app     []byte
}

func (h *hello) encode() []byte {
	b := make([]byte, 0, 1+2+len(h.id)+32+4+len(h.members)+len(h.app))
	b = append(b, h.version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.id)))
	b = append(b, h.id...)
	b = append(b, h.digest[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.members)))
	b = append(b, h.members...)
	return append(b, h.app...)
}

func decodeHello(b []byte) (hello, error) {
	var h hello
	bad := func(what string) (hello, error) { return hello{}, fmt.Errorf("%w: hello: %s", errMalformed, what) }
	if len(b) < 3 {
		return bad("short")
	}
	h.version = b[0]
	n := int(binary.BigEndian.Uint16(b[1:3]))
	b = b[3:]
	if len(b) < n+32+4 {
		return bad("short")
	}
	h.id = string(b[:n])
	b = b[n:]
	copy(h.digest[:], b[:32])
	m := binary.BigEndian.Uint32(b[32:36])
	b = b[36:]
	if uint64(m) > uint64(len(b)) {
		return bad("member list overruns the frame")
	}
	h.members = string(b[:m])
	h.app = b[m:]
	return h, nil
}

// memberList renders members canonically and digests them: every member must
// hold the same list, or ownership would differ between them.
func memberList(members map[string]string) (string, [32]byte) {
	entries := make([]string, 0, len(members))
	for id, addr := range members {
		entries = append(entries, id+"="+addr)
	}
	sort.Strings(entries)
	s := strings.Join(entries, ",")
	return s, sha256.Sum256([]byte(s))
}
