// Package pki makes the certificates that peer links (package peering/link)
// need, for farms that have no PKI of their own.
//
// # What it does
//
// NewCA creates a farm certificate authority (ECDSA P-256, valid about ten
// years). CA.Issue creates one member's certificate: the member ID as a DNS
// SAN (peer links identify members by it), plus any extra host names or IP
// addresses, usable for both serverAuth and clientAuth because every member
// both dials and accepts. WriteFarm does the whole job for `aspstate certs`.
//
// # Files
//
// Certificates and keys are PEM ("CERTIFICATE", "PRIVATE KEY" in PKCS #8).
// Keys are written with mode 0600. Nothing is overwritten unless asked:
// WriteFarm checks every target before writing any, so a refused run leaves
// the directory as it was.
//
// # Concurrency
//
// No shared state: the functions may run on several goroutines at once, and
// a CA may issue from several.
//
// # Ownership of bytes
//
// A KeyPair's certificate, key and PEM bytes belong to the caller.
//
// # Errors
//
// ErrExists when a file would be overwritten without force; otherwise the
// errors of crypto/x509 and the file system, naming the file.
//
// # What it does not do
//
// No revocation lists, no renewal scheduling, no encrypted keys: rotate by
// writing new files; peer links reload them without a restart.
package pki
