// Package recordcodec is the one encoding of a whole session record: key,
// blob, timeout, flags, lock state and remaining lifetime. Peering moves
// records between gateways with it, and export files are streams of it. The
// drivers' own on-disk formats are theirs and stay separate.
//
// # Format
//
// A record is: version (1 byte, 1), flags (1 byte: uninitialized, locked,
// has lock date), Timeout and LockCookie (int32, big-endian), LockDate (int64
// Unix nanoseconds, present only with the flag), remaining lifetime (int64
// nanoseconds; zero or negative means already expired), the key and the blob
// (each a uvarint length and the bytes). A stream (Writer, Reader) is a
// header, "ASPSTATE-RECORDS" and a version byte, then records, each prefixed
// with its length as a uvarint.
//
// # Concurrency
//
// Append and Decode are pure functions. A Writer or Reader is for one
// goroutine.
//
// # Ownership of bytes
//
// Decode's key is a new string; its rec.Data aliases the input. Reader.Next's
// rec.Data is valid until the next call to Next.
//
// # Errors
//
// Malformed or hostile input gives ErrMalformed (wrapped with detail), never a
// panic or an allocation larger than the input bounds allow: keys are at most
// MaxKey bytes and blobs at most MaxData.
//
// # What it does not do
//
// No compression, no checksums (the transports and files carrying it have
// their own), no encryption.
package recordcodec
