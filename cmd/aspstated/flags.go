package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/backends/redisstore"
)

// defineFlags declares every configuration key as a flag with the same dotted
// name, with its default and help. It is the single list of valid keys: a key
// in a file or the environment that is not here is an error.
func defineFlags(fs *pflag.FlagSet) {
	fs.String("listen", "127.0.0.1:42424", "address to accept web servers on (loopback only by default, like the stock service)")
	fs.StringSlice("allowed_networks", nil, "client networks (CIDR) allowed to connect; empty allows any that can reach the listener")
	fs.String("version", "4.0.30319", "X-AspNet-Version sent on every response (major version must be >= 2)")
	fs.Duration("idle_timeout", 60*time.Second, "close a client connection after this long without a request")
	fs.Duration("write_timeout", 10*time.Second, "give up writing a response to a client after this long")
	fs.Int("max_connections", 0, "maximum concurrent client connections (0: no limit)")
	fs.Duration("shutdown_timeout", 10*time.Second, "on SIGINT/SIGTERM, wait this long for requests in flight")
	fs.Int("limits.max_line_bytes", 8<<10, "longest request or header line accepted")
	fs.Int("limits.max_header_lines", 64, "most header lines in one request")
	fs.Int64("limits.max_body_bytes", 20<<20, "largest session blob accepted (Content-Length)")
	fs.String("log.level", "info", "log level: debug, info, warn or error (debug logs every request)")
	fs.String("log.format", "text", "log format: text or json")
	fs.String("debug.listen", "", "opt-in HTTP listener for operators: /stats (counters, JSON) and /debug/pprof/ (keep it on loopback)")

	fs.String("backend.type", "memory", "where sessions live: memory, bbolt, badger or redis")
	fs.Int64("backend.memory.max_bytes", 0, "memory backend: cap on stored bytes; a PUT past it gets 400 (0: no cap)")

	fs.String("backend.bbolt.path", "aspstate.db", "bbolt backend: data file")
	fs.String("backend.bbolt.sync", boltstore.DefaultSync, "bbolt backend: always (fdatasync the write-ahead log before each answer; concurrent writes share one) or none (leave it to the OS)")
	fs.Duration("backend.bbolt.flush_interval", boltstore.DefaultFlushInterval, "bbolt backend: how often slid expiry deadlines are written to disk")
	fs.Duration("backend.bbolt.sweep_interval", boltstore.DefaultSweepInterval, "bbolt backend: how often expired sessions are removed from disk")

	fs.String("backend.badger.path", "aspstate-badger", "badger backend: data directory")
	fs.String("backend.badger.sync", badgerstore.DefaultSync, "badger backend: interval (answer once the OS has the write, fsync every sync_interval: survives kill -9), always (fsync before answering, group commit: survives power loss) or none")
	fs.Duration("backend.badger.sync_interval", badgerstore.DefaultSyncInterval, "badger backend: how often the interval policy fsyncs (bounds what a power loss can lose)")
	fs.Int64("backend.badger.record_cache_size", badgerstore.DefaultRecordCacheSize, "badger backend: bytes of recently used sessions kept in memory for reads (negative: off)")
	fs.Int64("backend.badger.value_log_file_size", badgerstore.DefaultValueLogFileSize, "badger backend: size of each value log file")
	fs.Int64("backend.badger.value_threshold", badgerstore.DefaultValueThreshold, "badger backend: records at least this long go to the value log")
	fs.Int64("backend.badger.mem_table_size", badgerstore.DefaultMemTableSize, "badger backend: size of each memtable")
	fs.Int("backend.badger.num_memtables", badgerstore.DefaultNumMemtables, "badger backend: memtables kept in memory")
	fs.Int64("backend.badger.block_cache_size", badgerstore.DefaultBlockCacheSize, "badger backend: block cache size")
	fs.Int64("backend.badger.index_cache_size", badgerstore.DefaultIndexCacheSize, "badger backend: index cache size")
	fs.Duration("backend.badger.gc_interval", badgerstore.DefaultGCInterval, "badger backend: how often the value log is garbage-collected")

	fs.StringSlice("backend.redis.addrs", []string{"127.0.0.1:6379"}, "redis backend: address, sentinel addresses (with master_name) or cluster addresses")
	fs.String("backend.redis.master_name", "", "redis backend: Sentinel master name")
	fs.String("backend.redis.username", "", "redis backend: ACL user name")
	fs.String("backend.redis.password", "", "redis backend: password")
	fs.Int("backend.redis.db", 0, "redis backend: database number")
	fs.String("backend.redis.key_prefix", redisstore.DefaultKeyPrefix, "redis backend: prefix of every key this gateway writes")
	fs.Int("backend.redis.pool_size", 0, "redis backend: connections per node (0: the library default, 10 per CPU)")
	fs.Int("backend.redis.pipelines", redisstore.DefaultPipelines, "redis backend: shared pipelines in flight at once per node (1 makes the largest batches)")
	fs.Duration("backend.redis.dial_timeout", redisstore.DefaultDialTimeout, "redis backend: connect timeout")
	fs.Duration("backend.redis.read_timeout", redisstore.DefaultReadTimeout, "redis backend: read timeout")
	fs.Duration("backend.redis.write_timeout", redisstore.DefaultWriteTimeout, "redis backend: write timeout")
	fs.Duration("backend.redis.op_timeout", redisstore.DefaultOpTimeout, "redis backend: bound on one operation, retries included (keep it under the web server's 10 s)")
	fs.Int("backend.redis.max_retries", redisstore.DefaultMaxRetries, "redis backend: retries of one command after a network error (-1: none)")
	fs.Bool("backend.redis.tls.enabled", false, "redis backend: use TLS")
	fs.String("backend.redis.tls.ca_file", "", "redis backend: CA bundle to verify the server")
	fs.String("backend.redis.tls.cert_file", "", "redis backend: client certificate")
	fs.String("backend.redis.tls.key_file", "", "redis backend: client key")
	fs.String("backend.redis.tls.server_name", "", "redis backend: expected server name")
	fs.Bool("backend.redis.tls.insecure_skip_verify", false, "redis backend: do not verify the server certificate (testing only)")
}
