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
// One hash per session, nothing else:
//
//	<prefix>s:<key>     e.g. aspstate:s:/LM/W3SVC/1/ROOT/Shop(bYtV...D9U=)/kf51kjsndazux1l0vjlec5jw
//
// The prefix is Config.KeyPrefix ("aspstate:" by default); the key is the
// session key exactly as the gateway received it, binary-safe. Fields:
//
//	d   the session blob, byte for byte as the web server sent it
//	t   sliding timeout in minutes, decimal
//	f   1 while the item is uninitialized (PUT with ExtraFlags: 1), else 0
//	c   lock cookie, decimal
//	l   1 while locked, else 0
//	ld  lock date, Unix nanoseconds UTC, decimal ("" if never locked)
//	x   deadline, Unix milliseconds by the gateway's clock (absent if t is 0)
//	v   number of writes since the hash was created (for people, not for the CAS)
//	w   write id: a random token that changes with every write (the CAS token)
//
// To look around:
//
//	redis-cli --scan --pattern 'aspstate:s:*'
//	redis-cli hgetall 'aspstate:s:<key>'
//	redis-cli pttl 'aspstate:s:<key>'
//	redis-cli client list            (the gateways' connections are named aspstated)
//
// Every operation touches exactly one key, so in a Cluster each is served by
// one node (one hash slot) and needs no hash tags.
//
// # Concurrency and the CAS protocol
//
// Apply is three steps, each touching one key:
//
//  1. A Lua script (EVALSHA) reads the record, hides it if the gateway's
//     clock (passed in, never Redis's) is past x, otherwise slides x and the
//     native TTL, and returns the record and its write id. One round trip: a
//     read, the slide included.
//  2. The transition runs in Go on that record. If it keeps the record, Apply
//     is done.
//  3. A second script writes the new record (or deletes it) only if the write
//     id is still the one read in step 1 ("" for no hash: create only if still
//     absent) and, if the transition saw a live record, x has not passed
//     since; it gives the record a fresh write id and v+1. If another gateway
//     wrote in between, Apply sleeps a short jittered backoff and starts again
//     at step 1, so the transition may run several times (the contract allows
//     it). After 16 conflicting attempts it returns ErrConflict.
//
// The CAS token is a random write id rather than the version counter because
// a counter starts over when a session is deleted and created again, and a
// slow writer holding the old number would then overwrite a record it never
// saw. The token also makes a resent write harmless: if go-redis resends the
// step-3 command after a network error hid the first reply, the script finds
// its own token and reports success instead of a conflict that would run the
// transition twice. If step 3 fails outright, Apply returns the error and does
// not retry, since the write may or may not have happened.
//
// Write cache: a gateway remembers the record it last wrote under a key, with
// its write id (at most 16 MiB of records, each for 5 s). The next Apply on
// that key skips step 1 and runs the transition on the remembered record; if
// the CAS applies, nobody wrote the key in between, so the transition saw the
// stored record (another gateway's read slides only x, and the CAS checks that
// x has not passed). If the CAS finds another write id, or the transition
// keeps the record (no CAS proves anything then), Apply reads as usual. So a
// web request's GetExclusive then Set costs three scripts instead of four, and
// a locked session's next page two, while a read never comes from the cache.
//
// A Store is safe for concurrent use. It holds no lock across I/O: Redis
// serialises the scripts, and the CAS orders the gateways.
//
// # Batching
//
// Concurrent Applies share round trips. Each script call is queued; unless two
// pipelines are already in flight, the call starts a flusher goroutine, which
// sends everything queued (up to 128 calls) as one pipeline, hands each
// caller its reply and repeats until the queue is empty. A lone call goes at
// once; under load, calls gather while a pipeline is in flight. This saves the
// write and read system calls per command on both sides, and the go-redis
// connection checkout per command, which dominated the gateway's profile: a
// read cost about 30 µs of gateway CPU and 19 µs of Redis CPU before, about
// 19 and 12 with batching (50 connections, 1 KiB sessions). Why not go-redis's
// own AutoPipeline: it does not stop waiting at a caller's deadline once a
// command is queued, and it needs care with NOSCRIPT; this batcher is small.
//
// Each call keeps its own deadline (the caller's, or Config.OpTimeout): the
// caller stops waiting when it passes and gets its context's error; a
// pipeline's own deadline is the latest of its calls', so a short deadline
// never fails the others. A call whose caller has gone is not sent. Each
// command gets its own reply: a Redis error (WRONGTYPE, OOM, NOSCRIPT) fails
// only its caller; a network error fails every call in the pipeline, and each
// caller reports it, never a wrong answer. Scripts missing from Redis (after a
// restart, or on a new Cluster node) are sent again with their source in a
// second pipeline. In a Cluster, go-redis splits a pipeline by node and
// follows MOVED/ASK. A value over 64 KiB is written on its own connection so
// that it does not hold up a batch. Connections in use: at most two per node
// for the batcher, plus those large writes; Config.PoolSize (go-redis's
// default, 10 per CPU) is only an upper bound.
//
// # Expiry
//
// Two deadlines, kept together: x, by the gateway's clock (Config.Now), decides
// visibility, so that tests can move time and expiry is exact to the
// millisecond; the native TTL (PEXPIRE, t minutes) removes the hash from Redis
// once nobody reads it. Both slide on every Apply that finds the record,
// within the read script. Gateways sharing a Redis should keep their clocks in
// step (NTP): a record is invisible to a gateway whose clock is past x.
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
// fails with backends.ErrFull, and reads still answer but cannot slide expiry
// (the slide is a write). Both are logged once, as is the recovery.
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
//   - No sweeping and no SCAN: the native TTL removes expired sessions.
//   - No sentinel credentials distinct from the data nodes' (sentinels are
//     reached without AUTH).
package redisstore
