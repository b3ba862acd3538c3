// Package validate checks the deploy files offline, in CI (make
// deploy-check): the Kubernetes manifests decode strictly into the
// k8s.io/api types and carry what running in production needs; the
// Dockerfile's final stage builds from binaries built in CI; compose files
// publish on loopback. It is a module of its own so that k8s.io/api stays out
// of the server's go.mod; it holds no code that ships.
//
// # Concurrency
//
// Tests only; nothing shared.
//
// # Ownership of bytes
//
// It reads the deploy files and keeps nothing.
//
// # Errors
//
// A check that fails names the file, the document and the field.
//
// # What it does not do
//
// It runs no container, no cluster and no systemd: see the README for what
// was never run for real.
package validate
