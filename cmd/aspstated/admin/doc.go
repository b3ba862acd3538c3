// Package admin is the gateway's HTTP listener for operators (admin.listen):
// Prometheus metrics, health and readiness, the peering endpoints that
// `aspstate peers` uses, the operators' session API that `aspstate` and the
// admin page use (the contract is docs/admin-api.md), and, only when asked
// for, the Go profiler.
//
// # Endpoints
//
//	GET  /                  the admin page (page.go, page/): HTML, /app.js, /app.css,
//	                        /favicon.svg, embedded, static (no data): on every listener
//	GET  /metrics           Prometheus text format (see metrics.go for the names)
//	GET  /healthz           200 "ok" while the process runs
//	GET  /readyz            200 "ready", or 503 with the reason: the backend cannot
//	                        answer (Redis unreachable, store closed), peering is not
//	                        serving (joining, leaving), or the gateway is shutting down
//	GET  /peers             peering only: the view, links and counters (JSON)
//	POST /peers/down?member=ID   peering only: declare a member dead (token)
//	GET  /api/overview      counts, requests by operation, the oldest locks by key
//	                        hash, peers, the effective configuration (secrets masked)
//	GET  /api/sessions      list, with filters and paging (token)
//	GET  /api/session       one session's record, no blob (token)
//	GET  /api/session/blob  its blob (token)
//	POST /api/session/unlock  force-unlock: the protocol's release with the lock's
//	                        own cookie, through frontend.Server.Run (token)
//	POST /api/session/delete  the protocol's remove, with the cookie if locked (token)
//	GET  /api/export        a backends/recordcodec stream of every live session (token)
//	POST /api/import        Install each record of such a stream (token)
//	/debug/pprof/...        only with admin.pprof; never /debug/pprof/cmdline
//
// The session API works on
// Options.Sessions: the farm (peering's Node) with peering, else the store;
// every backend implements backends.Mover, Redis included (SCAN pages).
//
// # Who may call what
//
// auth.go: /metrics, /healthz and /readyz are open; the overview and GET
// /peers are open on a loopback listener (127.0.0.0/8, ::1, localhost) and
// need the token elsewhere; everything else needs the token: the first line
// of admin.token_file, sent as "Authorization: Bearer", compared in constant
// time (both sides hashed first). Without admin.token_file, whatever would
// need the token answers 403 and says so. SetTokenFile reads the file again
// (the gateway calls it on SIGHUP).
//
// # What it does not reveal
//
// Without the token nothing served here carries a session ID, a session's
// contents or a secret: metrics are counts and sizes with labels from fixed
// sets (operation, status, reason, backend, member ID); the overview names
// locks by key_hash (frontend.KeyHash, the logs' hash) and shows the
// configuration with secrets masked as "***" (the gateway masks them before
// passing it in); readiness reasons are the backend's error for a probe of a
// key of its own; store errors in API answers never name a key; the
// profiler's command line (which would show a password given as a flag) is
// never served. Session IDs and blobs are answered only to a request with the
// token: list, inspect, blob and export. Force-unlock and delete are logged
// at warn with key_hash, who, why and the remote address, never the ID or
// the blob. The profiler's heap and goroutine dumps can still show memory,
// which is why it is off unless admin.pprof is set; keep the listener on
// loopback or a management network either way (there is no TLS).
//
// # Cost
//
// The request path only increments the front end's per-connection counters
// (frontend/metrics.go); a scrape reads them. Gauges that need a walk of the
// store (locks held, the oldest lock, bytes on the durable stores) come from
// a background walk started by a scrape at most once per
// admin.store_stats_interval; a scrape never waits for it and serves the
// last result. The metrics do not walk a shared Redis (every gateway would
// walk the same keys); the overview does, when asked, at most once per
// interval, and with peering walks the farm. Listing, export and import walk
// (or write) once per request, in the stores' pages, so web servers'
// requests go on meanwhile.
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
// address; a scrape never fails because a store walk did. The API answers
// {"error": "..."}: 400 bad parameter or damaged import stream (with the
// counts so far), 401/403 as above, 404 no such session, 409 the lock
// changed under a force-unlock or delete, 502 the store or a peer could not
// answer (never a 404), 503 not serving (closed store, shutting down, or no
// farm-wide walker with peering). An export that fails after its first byte
// cuts the connection, so a client never takes a short stream for a whole
// one.
//
// # What it does not do
//
// No TLS and no users: one shared token. It is off by default, and belongs
// on loopback or a private network.
package admin
