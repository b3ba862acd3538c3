package wire

import "strconv"

// AppendResponse appends r to dst as the byte-exact canonical response of
// docs/protocol.md §3.4, with version as the X-AspNet-Version value (the client
// requires a major version of at least 2, e.g. "4.0.30319").
//
// The caller passes only Status 200, 400, 404 or 423, the statuses a web
// server understands. Any other status is encoded as 400 rather than
// panicking: the client then throws, which is the safe failure. Only a 200
// carries a body; r.Body is ignored for the others.
func AppendResponse(dst []byte, version string, r *Response) []byte {
	dst = AppendResponseHead(dst, version, r)
	if r.Status == 200 {
		dst = append(dst, r.Body...)
	}
	return dst
}

// AppendResponseHead appends what AppendResponse does except a 200's body:
// the head announces len(r.Body), and the caller sends the body itself, for
// example straight from the store with a vectored write.
func AppendResponseHead(dst []byte, version string, r *Response) []byte {
	switch r.Status {
	case 200:
		dst = append(dst, "HTTP/1.1 200 OK\r\nX-AspNet-Version: "...)
		dst = append(dst, version...)
		dst = append(dst, "\r\n"...)
		if r.ActionFlags {
			dst = append(dst, "ActionFlags: 1\r\n"...)
		}
		if r.HasLockCookie {
			dst = append(dst, "LockCookie: "...)
			dst = strconv.AppendInt(dst, int64(r.LockCookie), 10)
			dst = append(dst, "\r\n"...)
		}
		if r.HasTimeout {
			dst = append(dst, "Timeout: "...)
			dst = strconv.AppendInt(dst, int64(r.Timeout), 10)
			dst = append(dst, "\r\n"...)
		}
		dst = append(dst, "Cache-Control: private\r\nContent-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
		return append(dst, "\r\n\r\n"...)
	case 423:
		// Never a body: the RTM client leaked memory on a 423 with one.
		dst = append(dst, "HTTP/1.1 423 Locked\r\nX-AspNet-Version: "...)
		dst = append(dst, version...)
		dst = append(dst, "\r\nLockDate: "...)
		dst = strconv.AppendInt(dst, r.LockDateTicks, 10)
		dst = append(dst, "\r\nLockAge: "...)
		dst = strconv.AppendInt(dst, r.LockAgeSeconds, 10)
		dst = append(dst, "\r\nLockCookie: "...)
		dst = strconv.AppendInt(dst, int64(r.LockCookie), 10)
		return append(dst, "\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"...)
	case 404:
		dst = append(dst, "HTTP/1.1 404 Not Found\r\nX-AspNet-Version: "...)
	default:
		dst = append(dst, "HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: "...)
	}
	dst = append(dst, version...)
	return append(dst, "\r\nCache-Control: private\r\nContent-Length: 0\r\n\r\n"...)
}
