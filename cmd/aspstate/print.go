package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aspstate/aspstate/frontend/wire"
	"github.com/aspstate/aspstate/locking"
)

// printResponse writes the status line and the headers an operator cares
// about, one per line.
func printResponse(w io.Writer, r *wire.ClientResponse) {
	fmt.Fprintf(w, "%d %s\n", r.Status, r.Reason)
	if len(r.Version) > 0 {
		fmt.Fprintf(w, "X-AspNet-Version: %s\n", r.Version)
	}
	if r.ActionFlags.Present {
		fmt.Fprintf(w, "ActionFlags: %d%s\n", r.ActionFlags.Value, validNote(r.ActionFlags))
	}
	if r.LockCookie.Present {
		fmt.Fprintf(w, "LockCookie: %d%s\n", r.LockCookie.Value, validNote(r.LockCookie))
	}
	if r.LockAge.Present {
		fmt.Fprintf(w, "LockAge: %d s%s\n", r.LockAge.Value, validNote(r.LockAge))
	}
	if r.HasLockDate {
		fmt.Fprintf(w, "LockDate: %s\n", formatLockDate(r.LockDate))
	}
	if r.Timeout.Present {
		fmt.Fprintf(w, "Timeout: %d min%s\n", r.Timeout.Value, validNote(r.Timeout))
	}
	fmt.Fprintf(w, "Content-Length: %d\n", len(r.Body))
}

func validNote(n locking.Num) string {
	if n.Valid {
		return ""
	}
	return " (invalid)"
}

// formatLockDate renders .NET ticks of the server's local time. The server's
// zone is not on the wire, so the wall clock is shown as is.
func formatLockDate(ticks int64) string {
	t := wire.TimeFromTicks(ticks, time.UTC)
	return t.Format("2006-01-02 15:04:05.000") + " server local time (ticks " + strconv.FormatInt(ticks, 10) + ")"
}

// printBody writes the body as text when it is printable UTF-8, otherwise as
// a hex dump.
func printBody(w io.Writer, b []byte) {
	if len(b) == 0 {
		return
	}
	fmt.Fprintln(w)
	if isText(b) {
		w.Write(b)
		if b[len(b)-1] != '\n' {
			fmt.Fprintln(w)
		}
		return
	}
	io.WriteString(w, hex.Dump(b))
}

func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r != '\n' && r != '\r' && r != '\t' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// appendBodyPreview appends "body=7B (14000000 0000ff)": the length and the
// first bytes in hex, in groups of four.
func appendBodyPreview(dst []byte, b []byte) []byte {
	const maxShown = 32
	dst = append(dst, "body="...)
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, 'B')
	if len(b) == 0 {
		return dst
	}
	dst = append(dst, " ("...)
	for i, c := range b {
		if i == maxShown {
			dst = append(dst, " ..."...)
			break
		}
		if i > 0 && i%4 == 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return append(dst, ')')
}

const hexDigits = "0123456789abcdef"

// appendPrintable appends s, escaping bytes that are not printable ASCII as
// \xNN so that a log line stays one line.
func appendPrintable(dst []byte, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func appendNum(dst []byte, name string, n locking.Num) []byte {
	if !n.Present {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=')
	if !n.Valid {
		return append(dst, "invalid"...)
	}
	return strconv.AppendInt(dst, int64(n.Value), 10)
}
