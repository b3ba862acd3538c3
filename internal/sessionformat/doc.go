// Package sessionformat reads the blob an ASP.NET web server stores in a
// state server: the bytes of one session as System.Web writes them
// (SessionStateUtility, SessionStateItemCollection, HttpStaticObjectsCollection
// and AltSerialization). The state server itself never looks inside a blob;
// this package is for the operator's tools.
//
// # Layout
//
// Integers are little endian. A string is written as .NET's BinaryWriter
// writes one: its UTF-8 byte count as a 7-bit varint (low groups first, high
// bit set on every byte but the last, at most 5 bytes), then the bytes.
//
// The blob opens with the session's timeout in minutes (int32; the web server
// trusts this one rather than the Timeout header) and two one-byte flags: are
// there items, are there static objects. The items come next, when flagged:
// their count (int32) and, if it is not zero, the index of the item whose
// name is null (int32, -1 when none), the names of the other items in order,
// one int32 per item giving where its value ends (counted from the first
// value's first byte), and then the values, packed. Each value is one type
// byte and what that type needs: see TypeID. The .NET BinaryFormatter stream
// of an Object value carries no length of its own; only the end offsets
// delimit it. Static objects (the <object scope="session"> tags of
// global.asax) follow, when flagged: a count (int32), then for each a name,
// a flag for whether an instance exists, and either the instance as a value
// (type byte and payload, with no end offset) or the declared type's full
// name and a late-bound flag. A single 0xFF byte ends the blob.
//
// A web server with compressionEnabled deflates that whole stream (raw
// DEFLATE, no zlib or gzip header) and appends one 0xFF byte. Decode notices
// a blob that does not read as the plain layout but inflates, and reads what
// it inflates to.
//
// # Errors
//
// Decode never panics on any input and never allocates for a length it has
// not checked against the bytes that remain. An input that runs out early
// gives an error wrapping ErrTruncated; one that cannot be this format
// (a flag that is neither 0 nor 1, an unknown type byte, a value whose size
// does not fit its type, offsets that go backwards, a missing trailer)
// wraps ErrNotSessionFormat; a compressed blob that would inflate beyond the
// limit wraps ErrTooLarge. The message says where in the blob it stopped.
//
// # Concurrency
//
// Decode and DecodeMax are pure functions: any number of goroutines may call
// them at once.
//
// # Ownership of bytes
//
// Decode does not keep or modify its input: every string in a Session is a
// copy, so the caller may reuse the blob's buffer at once. An inflated
// stream is allocated as its bytes arrive, up to the limit.
//
// # What it does not do
//
// It does not encode blobs, and it does not deserialize BinaryFormatter
// objects: an Object value is shown as the class name found in the stream's
// first records, and its size. Because such an object has no length, a static
// object holding one can be delimited only when it is the last static
// object; otherwise decoding of the static objects stops there and the
// Session says so (StaticObjectsIncomplete). An IntPtr or UIntPtr static
// object is read as 8 bytes (a 64-bit web server). A DateTime's Kind is not
// in the blob, so times are shown without a zone.
package sessionformat
