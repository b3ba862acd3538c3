// Command aspstated is the state server: a drop-in replacement for the ASP.NET
// State Service (aspnet_state.exe), speaking the protocol of
// docs/protocol.md to web servers on TCP (127.0.0.1:42424 by default).
//
// # What it does
//
// run turns configuration into components and serves until SIGINT or
// SIGTERM: it loads the configuration (defaults, then --config FILE in YAML
// or TOML, then ASPSTATE_ environment variables, then flags; --print-config
// shows the result and --help lists every key, as does the README), opens
// the backend named by backend.type from a plain map of openers
// (memory, bbolt, badger, redis; no init() registration), and serves a
// frontend.Server on the listener. admin.listen, when set, adds the
// operators' HTTP listener (package admin: metrics, health, readiness,
// peering endpoints, pprof when asked for; debug.listen is its deprecated
// alias). SIGHUP reloads what can change safely (reload.go) and never stops
// the server; --version prints the build's version (version.go).
// The backend's largest value is the front end's body limit, so a store
// never refuses what the parser accepted.
//
// # Concurrency
//
// Everything runs inside run, which takes its arguments, environment and
// output from a runEnv, with no package globals, so tests can run the real
// server in-process (go-redis's logger, set when the backend is redis, is
// the one process-wide exception). Shutdown stops accepting, lets requests in flight
// be answered for up to shutdown_timeout, then closes the backend.
//
// # Ownership of bytes
//
// Nothing of note: the components own their buffers (see package frontend).
//
// # Errors
//
// Exit status 0 after a clean shutdown, 1 on a runtime failure (the backend
// cannot be opened, the address cannot be listened on, the listener fails,
// shutdown times out), 2 on bad configuration. Failures are logged with
// log/slog; the Redis client's own log lines are routed there too.
//
// # What it does not do
//
// No protocol logic (packages frontend, wire and locking), no storage logic
// (package backends and its drivers), no TLS on the web server side (the
// client speaks plain TCP).
package main
