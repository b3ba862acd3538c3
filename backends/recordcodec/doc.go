// Package recordcodec is the one binary encoding of a session record in
// motion: peering sends it on the wire when sessions move between gateways,
// and export files are a stream of it. It encodes a key, a backends.Record
// and the record's remaining lifetime, as a duration, so that the receiver
// computes the deadline on its own clock.
//
// # Record encoding, version 1
//
// Integers are big endian; lengths are unsigned varints (encoding/binary).
//
//	version    1 byte (1)
//	key len    uvarint, 1..MaxKeyLen
//	key        key len bytes, opaque
//	flags      1 byte: 1 Uninitialized, 2 Locked, 4 has LockDate; others refused
//	Timeout    int32
//	LockCookie int32
//	LockDate   int64 Unix seconds, then uint32 nanoseconds (< 1e9); both
//	           zero when the LockDate flag is clear (the zero time.Time)
//	remaining  int64 nanoseconds; zero or negative is allowed (expired)
//	data len   uvarint, 0..MaxDataLen
//	data       data len bytes
//
// A LockDate decodes in UTC at nanosecond precision (the same instant,
// compared with Equal). Nil and empty Data encode alike and decode as an
// empty, non-nil slice: no store tells them apart. Every other field
// round-trips exactly.
//
// # Streams
//
// A Writer writes a file header, the 8 bytes "ASPSREC" and a stream format
// version byte (1), then records back to back, each in the encoding above.
// A Reader checks the header and returns the records one by one, io.EOF
// after the last. A stream cut inside a record gives io.ErrUnexpectedEOF.
//
// # Errors
//
// Lengths are checked against MaxKeyLen and MaxDataLen before anything is
// allocated, so a damaged or hostile input gives an error wrapping
// ErrCorrupt (or io.ErrUnexpectedEOF for a short one), never a panic; Decode
// allocates only the key, and a Reader grows a record's buffer as its bytes
// actually arrive, so a length that lies costs no more memory than the bytes
// that came.
//
// # Ownership of bytes
//
// Append copies everything it is given. Decode returns a fresh key string,
// and rec.Data aliases b (a sub-slice capped at its own length, so appending
// to it does not write into b): copy it before reusing b. Reader.Next
// returns records whose Data belongs to the caller.
//
// # Concurrency
//
// Append and Decode are pure functions. A Writer or a Reader belongs to one
// goroutine.
//
// # What it does not do
//
// No compression, no checksum (the transport or file system has its own; an
// export file may add one around the stream), no deadline clock: remaining
// is a duration, and Append and Decode never read a clock.
package recordcodec
