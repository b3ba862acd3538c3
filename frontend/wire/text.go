package wire

import (
	"math"
	"slices"
	"unicode/utf8"

	"github.com/aspstate/aspstate/locking"
)

// Small byte helpers shared by the request and response parsers. They work on
// []byte in place so that parsing never allocates.

// trimSpace drops spaces and tabs at both ends (HTTP's OWS).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// eqFold reports whether b equals lower, ignoring ASCII case. lower must be
// lower-case ASCII; comparing this way avoids lowering b into a new string.
func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseNum parses a header value as the protocol's non-negative Int32. The
// value is already trimmed. Only decimal digits are accepted: a sign, an
// empty value or an overflow leaves the header Present but not Valid, so
// package locking can answer 400 instead of guessing.
func parseNum(v []byte) locking.Num {
	n := locking.Num{Present: true}
	if len(v) == 0 || len(v) > 10 {
		// Leading zeros beyond 10 digits are rejected too; no client sends them.
		return n
	}
	var x int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return n
		}
		x = x*10 + int64(c-'0')
	}
	if x > math.MaxInt32 {
		return n
	}
	n.Value, n.Valid = int32(x), true
	return n
}

// parseLength parses a Content-Length value: digits only, at most max.
// ok is false for anything else, including a sign or an overflow.
func parseLength(v []byte, max int64) (n int64, ok bool) {
	if len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= max
}

// parseInt64 parses an optionally negative decimal int64 (LockDate ticks).
func parseInt64(v []byte) (int64, bool) {
	neg := false
	if len(v) > 0 && v[0] == '-' {
		neg, v = true, v[1:]
	}
	n, ok := parseLength(v, math.MaxInt64-9)
	if !ok {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unhex4 decodes the four hex digits of a %uXXXX escape, or returns -1.
func unhex4(b []byte) int {
	v := 0
	for _, c := range b[:4] {
		h := unhex(c)
		if h < 0 {
			return -1
		}
		v = v<<4 | h
	}
	return v
}

// appendURLDecoded appends the key the reference server derives from a raw
// target: HttpUtility.UrlDecode, i.e. '+' -> ' ', %xx -> byte (either hex
// case), %uXXXX -> that UTF-16 unit as UTF-8, and any invalid escape left as
// it is. Bytes that are not valid UTF-8 are kept as they are (the reference
// would turn them into U+FFFD; real clients only send ASCII, and keeping them
// cannot make two distinct targets collide).
func appendURLDecoded(dst, s []byte) []byte {
	// Decoding never lengthens: %xx is 3 bytes for 1, %uXXXX 6 for at most 3.
	// Sizing once and writing by index keeps the common pure-ASCII case fast.
	base := len(dst)
	dst = slices.Grow(dst, len(s))[:base+len(s)]
	w := base
	n := len(s)
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i < n-2:
			if s[i+1] == 'u' && i < n-5 {
				if r := unhex4(s[i+2:]); r >= 0 {
					i += 5
					// A high surrogate followed by an escaped low one is one
					// character in the reference's UTF-16 string.
					if utf16High(r) && i+6 < n && s[i+1] == '%' && s[i+2] == 'u' {
						if lo := unhex4(s[i+3:]); utf16Low(lo) {
							r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
							i += 6
						}
					}
					w += utf8.EncodeRune(dst[w:], rune(r)) // lone surrogates -> U+FFFD
					continue
				}
			} else if h1, h2 := unhex(s[i+1]), unhex(s[i+2]); h1 >= 0 && h2 >= 0 {
				c = byte(h1<<4 | h2)
				i += 2
			}
		}
		dst[w] = c
		w++
	}
	return dst[:w]
}

func utf16High(r int) bool { return 0xD800 <= r && r < 0xDC00 }
func utf16Low(r int) bool  { return 0xDC00 <= r && r < 0xE000 }
