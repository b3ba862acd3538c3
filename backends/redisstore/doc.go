// Package redisstore is the backends.Backend on Redis: standalone, Sentinel or
// Cluster, shared by any number of gateways. It is how a web farm grows past
// one gateway: every gateway sees every session, and the session lock holds
// across gateways.
//
// # What it does
//
// Open builds a go-redis UniversalClient from Config: one address for a
// standalone server, MasterName plus sentinel addresses for Sentinel, several
// addresses for a Cluster; ACL username and password, TLS, database number,
// key prefix, pool size and timeouts. Apply runs a transition over one
// session record with a compare-and-set, so that the protocol's lock rules
// (package locking) run in Go, once per attempt, while Redis keeps them
// atomic across gateways.
//
// # Key layout
//
// One string per session, nothing else (Redis 7.0 or later: PEXPIRETIME):
//
//	<prefix>s:<key>     e.g. aspstate:s:/LM/W3SVC/1/ROOT/Shop(bYtV...D9U=)/kf51kjsndazux1l0vjlec5jw
//
// The prefix is Config.KeyPrefix ("aspstate:" by default); the key is the
// session key exactly as the gateway received it, binary-safe. The value is a
// one-line header, then the session blob byte for byte as the web server sent
// it:
//
//	<w> <v> <t> <f> <c> <l> <ld>\n<blob>
//
//	w   write id: 16 hex digits, random, new with every write (the CAS token)
//	v   number of writes since the session was created (for people)
//	t   sliding timeout in minutes
//	f   1 while the item is uninitialized (PUT with ExtraFlags: 1), else 0
//	c   lock cookie
//	l   1 while locked, else 0
//	ld  lock date, Unix nanoseconds UTC, or - if never locked
//
// The key's expire time is the session's deadline: Unix milliseconds by the
// gateway's clock, set with PXAT, none when t is 0.
//
// To look around:
//
//	redis-cli --scan --pattern 'aspstate:s:*'
//	redis-cli get 'aspstate:s:<key>'
//	redis-cli getrange 'aspstate:s:<key>' 0 80       (the header only)
//	redis-cli pexpiretime 'aspstate:s:<key>'
//	redis-cli client list            (the gateways' connections are named aspstated)
//
// Every operation touches exactly one key, so in a Cluster each is served by
// one node (one hash slot) and needs no hash tags.
//
// # Concurrency and the CAS protocol
//
// Apply is three steps, each touching one key:
//
//  1. A read returns the value and its deadline (PEXPIRETIME) and slides the
//     deadline (GETEX PXAT), atomically in one MULTI/EXEC block and one round
//     trip, without a script. It cannot know the record's timeout before it
//     sees the record, so it slides by the timeout of the record this gateway
//     saw last (a farm's sessions share one); if the record's own differs, or
//     the record turns out to be past its deadline by the gateway's clock (so
//     that the slide must not bring it back), a small script (fixScript) puts
//     the deadline right, guarded by the write id, before Apply goes on.
//  2. The transition runs in Go on that record. If it keeps the record, Apply
//     is done.
//  3. A script (casScript) writes the new value (or deletes it) only if the
//     write id is still the one read in step 1 ("" for no key: create only if
//     still absent) and, if the transition saw a live record, its deadline
//     has not passed since. The script reads only the write id (GETRANGE 0
//     15), never the blob. If another gateway wrote in between, Apply sleeps
//     a short jittered backoff and starts again at step 1, so the transition
//     may run several times (the contract allows it). After 16 conflicting
//     attempts it returns ErrConflict.
//
// On a Cluster a MULTI block must stay within one hash slot, so each read is
// its own block (MULTI, PEXPIRETIME, GETEX, EXEC) instead of one per batch.
// When Redis refuses the block, step 1 is a script instead (readScript),
// which slides only a live record: on a Redis at maxmemory, which refuses
// every MULTI block, and on a Cluster node that no longer serves the key's
// slot (it answers MOVED), where go-redis follows the redirection.
//
// The CAS token is a random write id rather than the version counter because
// a counter starts over when a session is deleted and created again, and a
// slow writer holding the old number would then overwrite a record it never
// saw. The token also makes a resent write harmless: if a write is sent again
// after a network error hid the first reply, the script finds its own token
// and reports success instead of a conflict that would run the transition
// twice. If step 3 fails outright, Apply returns the error and does not
// retry, since the write may or may not have happened.
//
// Write cache: a gateway remembers the record it last wrote under a key, with
// its write id (at most 16 MiB of records, each for 5 s). The next Apply on
// that key skips step 1 and runs the transition on the remembered record; if
// the CAS applies, nobody wrote the key in between, so the transition saw the
// stored record (another gateway's read slides only the deadline, and the CAS
// checks that it has not passed). If the CAS finds another write id, or the
// transition keeps the record (no CAS proves anything then), Apply reads as
// usual. So a web request's GetExclusive then Set costs three round trips
// instead of four, while a read never comes from the cache.
//
// A Store is safe for concurrent use. It holds no lock across I/O: Redis
// serialises the scripts, and the CAS orders the gateways.
//
// # Batching
//
// Concurrent Applies share round trips. Each read or script call is queued;
// unless Config.Pipelines pipelines (default 1) are already in flight, the
// call starts a flusher goroutine, which sends everything queued (up to 128
// calls: the scripts, then the reads in one MULTI/EXEC block) as one
// pipeline, hands each caller its reply and repeats until the queue is
// empty. A lone call goes at once;
// under load, calls gather while a pipeline is in flight. This saves the
// write and read system calls per command on both sides. One pipeline in
// flight makes the largest batches and costs the least CPU per request; more
// may shorten the wait for a distant Redis, at the price of smaller batches
// (measured on loopback only, where one was best). Why not go-redis's
// own AutoPipeline: it does not stop waiting at a caller's deadline once a
// command is queued, and it needs care with NOSCRIPT; this batcher is small.
//
// On a standalone Redis the pipelines go over the store's own connections,
// one per pipeline in flight (pipeconn.go: RESP2, AUTH, SELECT, TLS, one
// resend on a connection that went stale; plain TCP through
// internal/rawconn), not through go-redis: a go-redis command
// object, its boxed arguments and its reply tree cost the gateway more CPU
// than Redis spends on the read. Sentinel and Cluster pipelines, the startup
// probe and values over 64 KiB use go-redis, which follows failovers. On a
// Cluster each master node has its own batcher (picked by go-redis's slot
// map), so that a node that stalls holds up only the calls for its own
// slots; a script that a node refuses with MOVED, ASK or TRYAGAIN did not
// run, and goes again through go-redis's cluster pipeline, which follows the
// redirection and reloads the slot map.
//
// Each call carries its own deadline (the caller's, or Config.OpTimeout): a
// pipeline's I/O ends by the latest deadline of its calls, a call still
// queued when its deadline passes fails unsent, and a caller whose context
// ends stops waiting at once. Each command gets its own reply: a Redis error
// (WRONGTYPE, OOM, NOSCRIPT) fails only its caller; a network error fails
// every call in the pipeline, and each caller reports it, never a wrong
// answer. Scripts missing from Redis (after a restart, or on a new Cluster
// node) are sent again with their source in a second pipeline. A value over
// 64 KiB is written on its own connection so that it does not hold up a
// batch.
//
// # Expiry
//
// The deadline is the key's own expire time, computed by the gateway's clock
// (Config.Now), so that tests can move time and expiry is exact to the
// millisecond: a record past its deadline by the gateway's clock is absent
// to that gateway, and Redis removes the key when its own clock passes the
// deadline. Keep the clocks of the gateways and of Redis in step (NTP). Every
// Apply that finds a live record slides the deadline, within its read.
//
// # Failure behaviour
//
// A failure is never disguised as an answer: while Redis cannot answer, Apply
// returns an error (never an absent record, never a success), and the gateway
// closes the web server's connection. Timeouts are short (1 s to dial, read
// and write; Config.OpTimeout, 3 s, for a whole Apply; at most one resend per
// command), so that an error comes well within the web server's 10 s.
//
// Open does not wait for Redis. If Redis is unreachable the gateway starts,
// the log says so at once (a probe pings every second until it answers), and
// requests succeed as soon as Redis does, without a restart. Each change
// between "answering" and "not answering" is logged once, not per request.
// Errors never contain the session key, which holds the session id.
//
// Records larger than Config.MaxValueSize fail with backends.ErrTooLarge. A
// Redis at maxmemory with the noeviction policy (the right policy for sessions:
// an evicting policy drops live sessions silently) refuses writes; a Store then
// fails with backends.ErrFull; reads still answer and slide (a new deadline
// takes no memory), and deletes still work. Both are logged once, as is the
// recovery.
//
// # Ownership of bytes
//
// The record a transition sees is decoded from the reply into fresh memory,
// or is the write cache's private copy, taken out of the cache for this call;
// nothing is shared with other calls. Apply sends the Change's Data to Redis
// before it returns and keeps only a copy of it (the write cache), never the
// caller's buffer.
//
// # What it deliberately does not do
//
//   - No read cache: every gateway must see every other gateway's writes at
//     once, so every Apply goes to Redis (the write cache only lets a write
//     skip its read when the CAS proves the remembered record current).
//   - No persistence settings: durability is Redis's (AOF or RDB, configured
//     there). A Redis restart without persistence loses the sessions, and the
//     web servers then start new ones.
//   - No WAIT for replicas: with Sentinel, a write acknowledged by a master that
//     fails before replicating is lost, as for any Redis client.
//   - No sweeping and no SCAN: Redis removes expired sessions itself.
//   - No sentinel credentials distinct from the data nodes' (sentinels are
//     reached without AUTH).
package redisstore
