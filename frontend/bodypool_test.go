package frontend

import "testing"

// A pooled copy has the body's bytes and length, in a buffer of the size
// class above it; released buffers may be handed out again, and foreign
// buffers are not taken.
func TestPooledCopy(t *testing.T) {
	for _, n := range []int{minPooledBody, minPooledBody + 1, 3 << 20, 20 << 20} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i * 7)
		}
		b := pooledCopy(src)
		if len(b) != n || string(b) != string(src) {
			t.Fatalf("copy of %d bytes: %d bytes, equal %v", n, len(b), string(b) == string(src))
		}
		if c := cap(b); c < n || c&(c-1) != 0 || c >= 2*n {
			t.Fatalf("copy of %d bytes in a buffer of %d", n, c)
		}
		releaseBody(b)
		again := pooledCopy(src[:n-1])
		if string(again) != string(src[:n-1]) {
			t.Fatalf("a copy into a reused buffer of %d bytes differs", n)
		}
	}
	releaseBody(make([]byte, 10, 100)) // not a power of two: ignored
}
