// Package redisstore is the backends.Backend on Redis (7.0 or later):
// standalone, Sentinel or Cluster, shared by any number of gateways. It is
// how a web farm grows past one gateway: every gateway sees every session,
// and the session lock holds across gateways. The reasoning behind the design
// (value layout, the CAS protocol and its write cache, batching, failure
// handling) is written out in docs/design/redisstore.md.
//
// # What it does
//
// Open builds a go-redis UniversalClient from Config (one address, a
// Sentinel master name, or Cluster addresses; ACL, TLS, database, key
// prefix, timeouts) and does not wait for Redis: a probe logs the outage and
// requests succeed once Redis answers. Each session is one string key,
// <prefix>s:<session key> ("aspstate:" by default), holding a one-line
// header (write id, version, timeout, uninitialized, cookie, locked, lock
// date) and then the blob byte for byte. The key's expire time is the
// session's deadline, computed by the gateway's clock (keep gateways and
// Redis in step with NTP); every Apply that finds a live record slides it.
//
// Apply is a compare-and-set: read the value and its deadline (sliding it),
// run the transition in Go, then write or delete with a script only if the
// record's random write id is unchanged. On conflict it backs off and runs
// the transition again, up to 16 times (then ErrConflict). A write cache
// lets a Set that follows this gateway's own GetExclusive skip its read.
// The Store implements backends.Mover (mover.go) for export, import and the
// operators' API: Walk pages through the store's keys with SCAN (never KEYS),
// on every master of a Cluster, and reads each page's records with their
// deadlines in one pipeline, without sliding them; Peek reads one the same
// way; Install stores a record with its deadline as the key's expire time
// (PXAT on the gateway's clock), only over no live record unless asked. It
// is also backends.Shared, so peering refuses it.
//
// Concurrent Applies share round trips: calls queue and go out as one
// pipeline (Config.Pipelines in flight, default 1); on a standalone Redis
// over the store's own connections (pipeconn.go, internal/rawconn), on
// Sentinel and Cluster through go-redis. Every operation touches one key, so
// it is served by one Cluster node and needs no hash tags. The batcher, the
// connections and the reply codec earn their place (issue 16): against go-redis
// alone, one call at a time, the gateway served read 2.8x and cycle 1.7x the
// requests (medians of 8 paired rounds, `scripts/altbench.sh redis 8 10s`;
// see BENCHMARKS.md).
//
// # Concurrency
//
// A Store is safe for concurrent use and holds no lock across I/O: Redis
// serialises the scripts and the CAS orders the gateways. Because a
// transition may run several times per Apply, it must be pure (package
// locking's are). Flusher goroutines exist only while a pipeline is in
// flight; the startup probe runs until Redis first answers, and Close stops
// it if it is still running.
//
// # Ownership of bytes
//
// The record a transition sees is decoded into fresh memory (or is the write
// cache's private copy, taken out for this call) and is never written
// afterwards, so the Store implements backends.StableData. Apply builds its
// own Redis key and keeps no part of the caller's key or buffers (only a
// copy of written data, in the write cache), so it implements
// backends.BorrowedKeys.
//
// # Errors
//
// A failure is never disguised as an answer: while Redis cannot answer,
// Apply returns an error, never an absent record or a success, and the
// gateway closes the web server's connection. Timeouts are short (1 s for
// dial, read and write; Config.OpTimeout, 3 s, for a whole Apply) so that
// errors come well within the web server's 10 s. A Data larger than
// Config.MaxValueSize returns backends.ErrTooLarge; a Redis at maxmemory
// (use noeviction: an evicting policy drops live sessions silently) makes
// writes fail with backends.ErrFull while reads and deletes still work. If a
// write fails outright Apply does not retry, since it may have happened.
// Changes between answering and not answering are logged once. Errors never
// contain the session key.
//
// # What it does not do
//
// No read cache that answers on its own (every gateway must see the others'
// writes at once): the copies of large sessions (bigreads.go) only spare
// Redis sending a value it has just confirmed unchanged. No
// persistence settings (durability is Redis's AOF or RDB), no WAIT for
// replicas, no sweeping (Redis expires keys itself; SCAN only for Walk), no sentinel
// credentials distinct from the data nodes'.
package redisstore
