package link

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

func encode(msgs ...*outMsg) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for _, m := range msgs {
		if err := writeMessage(w, m.typ, m.kind, m.id, m.payload); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// TestFrameMore: a frame says whether bytes of another had arrived with it,
// which lets a handler's reply wait for its neighbours' (writer.go).
func TestFrameMore(t *testing.T) {
	in := encode(&outMsg{typ: tRequest, id: 1, payload: []byte("a")},
		&outMsg{typ: tRequest, id: 2, payload: bytes.Repeat([]byte{7}, chunkSize+10)},
		&outMsg{typ: tRequest, id: 3, payload: []byte("c")})
	fr := newFrameReader(bytes.NewReader(in), 1<<20)
	for i, want := range []bool{true, true, false} {
		got, err := fr.next()
		if err != nil || got.more != want {
			t.Fatalf("message %d: more = %v, %v; want %v", i, got.more, err, want)
		}
	}
	// Apart: each frame in its own read.
	half := len(encode(&outMsg{typ: tRequest, id: 1, payload: []byte("a")}))
	fr = newFrameReader(io.MultiReader(bytes.NewReader(in[:half]), bytes.NewReader(in[half:])), 1<<20)
	if got, err := fr.next(); err != nil || got.more {
		t.Fatalf("a frame read alone: more = %v, %v", got.more, err)
	}
}

func TestFrameRoundTripAndChunks(t *testing.T) {
	big := bytes.Repeat([]byte{1, 2, 3}, chunkSize) // three chunks
	in := encode(&outMsg{typ: tRequest, kind: 9, id: 1, payload: []byte("small")},
		&outMsg{typ: tReply, kind: 2, id: 2, payload: big},
		&outMsg{typ: tPing, id: 3})
	// Split the input at every byte position of a short prefix: the reader
	// must not care how bytes arrive.
	for _, split := range []int{0, 1, 7, 14, 15, 16, 20} {
		fr := newFrameReader(io.MultiReader(bytes.NewReader(in[:split]), bytes.NewReader(in[split:])), 1<<20)
		for i, want := range []message{{typ: tRequest, kind: 9, id: 1, payload: []byte("small")}, {typ: tReply, kind: 2, id: 2, payload: big}, {typ: tPing, id: 3, payload: []byte{}}} {
			got, err := fr.next()
			if err != nil {
				t.Fatalf("split %d msg %d: %v", split, i, err)
			}
			if got.typ != want.typ || got.kind != want.kind || got.id != want.id || !bytes.Equal(got.payload, want.payload) {
				t.Fatalf("split %d msg %d: got %d/%d/%d %d bytes", split, i, got.typ, got.kind, got.id, len(got.payload))
			}
		}
		if _, err := fr.next(); err != io.EOF {
			t.Fatalf("at the end: %v", err)
		}
	}
}

func TestFrameMalformed(t *testing.T) {
	hdr := func(n int, typ, flags, kind byte, id uint64) []byte {
		return appendHeader(nil, n, typ, flags, kind, id)
	}
	cases := map[string][]byte{
		"huge length":     hdr(1<<31, tRequest, 0, 0, 1), // must fail before allocating 2 GiB
		"over max":        hdr(1025, tRequest, 0, 0, 1),
		"over a chunk":    hdr(chunkSize+1, tRequest, 0, 0, 1),
		"unknown type":    hdr(0, 99, 0, 0, 1),
		"type zero":       hdr(0, 0, 0, 0, 1),
		"unknown flag":    hdr(0, tRequest, 4, 0, 1),
		"chunks over max": append(append(hdr(600, tRequest, flagMore, 0, 1), make([]byte, 600)...), hdr(600, tRequest, 0, 0, 1)...),
		"kind changes":    append(append(hdr(1, tRequest, flagMore, 1, 1), 0), hdr(1, tRequest, 0, 2, 1)...),
	}
	for name, in := range cases {
		max := 1024
		if name == "over a chunk" {
			max = 1 << 20
		}
		_, err := newFrameReader(bytes.NewReader(in), max).next()
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: err = %v, want malformed", name, err)
		}
	}
	_, err := newFrameReader(bytes.NewReader(hdr(10, tRequest, 0, 0, 1)[:15]), 1024).next()
	if err != io.ErrUnexpectedEOF {
		t.Errorf("truncated payload: %v", err)
	}
}

func TestHelloRoundTrip(t *testing.T) {
	s, d := memberList(map[string]string{"b": "h:2", "a": "h:1"})
	if s != "a=h:1,b=h:2" {
		t.Fatalf("member list %q", s)
	}
	h := hello{version: 1, id: "a", digest: d, members: s, app: []byte("view")}
	got, err := decodeHello(h.encode())
	if err != nil || got.id != "a" || got.digest != d || got.members != s || string(got.app) != "view" {
		t.Fatalf("%+v %v", got, err)
	}
	for i := range len(h.encode()) - len("view") {
		if _, err := decodeHello(h.encode()[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
}

// FuzzFrame feeds arbitrary bytes to the frame reader and the hello
// decoder: errors are fine, panics and oversized allocations are not.
func FuzzFrame(f *testing.F) {
	f.Add(encode(&outMsg{typ: tRequest, kind: 1, id: 1, payload: []byte("x")}))
	f.Add(encode(&outMsg{typ: tReply, id: 2, payload: bytes.Repeat([]byte("y"), chunkSize+10)}))
	h := hello{version: 1, id: "gw1", members: "gw1=a:1", app: []byte("v")}
	f.Add(encode(&outMsg{typ: tHello, payload: h.encode()}))
	f.Add(appendHeader(nil, 3, tRequest, flagMore, 0, 5))
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 20
		fr := newFrameReader(bytes.NewReader(in), max)
		for {
			m, err := fr.next()
			if err != nil {
				return
			}
			if len(m.payload) > max || m.typ == 0 || m.typ > tMax {
				t.Fatalf("accepted %d/%d bytes", m.typ, len(m.payload))
			}
			if m.typ == tHello {
				decodeHello(m.payload)
			}
		}
	})
}
