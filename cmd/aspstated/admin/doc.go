// Package admin is the gateway's HTTP listener for operators (admin.listen):
// Prometheus metrics, health and readiness, the peering endpoints that
// `aspstate peers` uses, and, only when asked for, the Go profiler.
//
// # Endpoints
//
//	GET  /                  the admin page (page.go, page/): HTML, /app.js, /app.css,
//	                        /favicon.svg, embedded; the overview's access rule
//	GET  /metrics           Prometheus text format (see metrics.go for the names)
//	GET  /healthz           200 "ok" while the process runs
//	GET  /readyz            200 "ready", or 503 with the reason: the backend cannot
//	                        answer (Redis unreachable, store closed), peering is not
//	                        serving (joining, leaving), or the gateway is shutting down
//	GET  /peers             peering only: the view, links and counters (JSON)
//	POST /peers/down?member=ID   peering only: declare a member dead
//	/debug/pprof/...        only with admin.pprof; never /debug/pprof/cmdline
//
// # What it does not reveal
//
// Nothing served here carries a session ID, a session's contents or a
// secret: metrics are counts and sizes with labels from fixed sets
// (operation, status, reason, backend, member ID); readiness reasons are the
// backend's error for a probe of a key of its own; the profiler's command
// line (which would show a password given as a flag) is never served. The
// profiler's heap and goroutine dumps can still show memory, which is why it
// is off unless admin.pprof is set; keep the listener on loopback or a
// management network either way.
//
// # Cost
//
// The request path only increments the front end's per-connection counters
// (frontend/metrics.go); a scrape reads them. Gauges that need a walk of the
// store (locks held, the oldest lock, bytes on the durable stores) come from
// a background walk started by a scrape at most once per
// admin.store_stats_interval; a scrape never waits for it and serves the
// last result.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use. Serve runs until Shutdown;
// Shutdown also waits for a store walk in progress.
//
// # Ownership of bytes
//
// Nothing of a request is kept; responses are written and forgotten.
//
// # Errors
//
// A failed readiness probe is a 503 with its reason (never a secret or a
// session ID); Listen returns the listener's error naming admin.listen's
// address; a scrape never fails because a store walk did.
//
// # What it does not do
//
// No authentication and no TLS: it is off by default, and belongs on
// loopback or a private network. No session contents (the admin page and
// API of a later issue will need a token).
package admin
