package badgerstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Sync policies for Config.Sync.
const (
	// SyncAlways fsyncs every write before Apply returns. Concurrent writers
	// share one fsync (the Store's group committer, commit.go). Survives
	// power loss.
	SyncAlways = "always"
	// SyncInterval makes a write reach the kernel (badger's memory-mapped
	// files) before Apply returns, so a process crash (kill -9) loses
	// nothing, and fsyncs everything written every SyncInterval, so a power
	// loss or kernel crash loses at most about that much (sync.go).
	SyncInterval = "interval"
	// SyncNone leaves flushing to the OS. Badger writes through mmap, so a
	// process crash (kill -9) still loses nothing; a power loss or kernel crash
	// may lose the last seconds of writes.
	SyncNone = "none"
)

// Defaults, chosen so that 1,000,000 sessions of 1 KiB keep the process's
// anonymous memory well under 1 GiB (badger's own defaults reserve 5 × 64 MiB
// memtables and a 256 MiB block cache).
const (
	DefaultSync             = SyncInterval
	DefaultValueLogFileSize = 64 << 20 // per value-log file; GC rewrites one file at a time
	DefaultValueThreshold   = 256      // encoded records at least this long go to the value log, keeping the LSM tree small
	DefaultMemTableSize     = 16 << 20 // per memtable (skiplist arena)
	DefaultNumMemtables     = 3        // memtables kept in memory before writers stall
	DefaultBlockCacheSize   = 32 << 20 // decompressed SST blocks
	DefaultIndexCacheSize   = 16 << 20 // SST indexes and bloom filters
	DefaultRecordCacheSize  = 32 << 20 // encoded records of recently used sessions, in the gateway's heap
	DefaultGCInterval       = 5 * time.Minute
	DefaultSyncInterval     = time.Second
	DefaultMaxValueSize     = backends.DefaultMaxValueSize
)

// Config configures a Store. Zero fields take the defaults above; Validate
// reports the first bad field by its configuration key. The koanf, default and
// help tags define the gateway's configuration keys (backend.badger.*,
// cmd/aspstated).
type Config struct {
	// Path is the data directory (created if missing). Required.
	Path string `koanf:"path" default:"aspstate-badger" help:"data directory"`
	// Sync is the sync policy: "always", "interval" (default) or "none".
	Sync string `koanf:"sync" help:"interval (answer once the OS has the write, fsync every sync_interval: survives kill -9), always (fsync before answering, group commit: survives power loss) or none"`
	// SyncInterval is how often the "interval" policy fsyncs.
	SyncInterval time.Duration `koanf:"sync_interval" help:"how often the interval policy fsyncs (bounds what a power loss can lose)"`
	// RecordCacheSize bounds the bytes of recently used records kept in
	// memory, so that reading them does not go through badger. 0 takes the
	// default; negative turns the cache off.
	RecordCacheSize int64 `koanf:"record_cache_size" help:"bytes of recently used sessions kept in memory for reads (negative: off)"`
	// ValueLogFileSize is the size of one value-log file, in bytes [1 MiB, 2 GiB).
	ValueLogFileSize int64 `koanf:"value_log_file_size" help:"size of each value log file"`
	// ValueThreshold: encoded records at least this long are kept in the value
	// log; smaller ones inline in the LSM tree.
	ValueThreshold int64 `koanf:"value_threshold" help:"records at least this long go to the value log"`
	// MemTableSize is the size of one memtable in bytes.
	MemTableSize int64 `koanf:"mem_table_size" help:"size of each memtable"`
	// NumMemtables is how many memtables may be in memory at once.
	NumMemtables int `koanf:"num_memtables" help:"memtables kept in memory"`
	// BlockCacheSize is the block cache in bytes (0 takes the default).
	BlockCacheSize int64 `koanf:"block_cache_size" help:"block cache size"`
	// IndexCacheSize bounds the memory for table indexes and bloom filters.
	IndexCacheSize int64 `koanf:"index_cache_size" help:"index cache size"`
	// GCInterval is how often the value-log garbage collector runs when
	// little is written; after every two value-log files of large writes it
	// runs at once (gc.go).
	GCInterval time.Duration `koanf:"gc_interval" help:"how often the value log is garbage-collected (sooner under large writes)"`
	// MaxValueSize is the largest Record.Data Apply stores; larger gives
	// backends.ErrTooLarge. Must be below ValueLogFileSize. The gateway passes
	// its limits.max_body_bytes.
	MaxValueSize int `koanf:"-"`
	// Now is the clock used for expiry and lock dates (time.Now if nil).
	Now func() time.Time
	// Logger receives badger's warnings and errors and the store's own
	// (slog.Default if nil). Badger's info and debug lines go to Debug.
	Logger *slog.Logger
}

// SetDefaults gives every zero field its default, as Open does.
func (cfg *Config) SetDefaults() { *cfg = cfg.withDefaults() }

// withDefaults returns cfg with zero fields replaced by defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Sync == "" {
		cfg.Sync = DefaultSync
	}
	if cfg.ValueLogFileSize == 0 {
		cfg.ValueLogFileSize = DefaultValueLogFileSize
	}
	if cfg.ValueThreshold == 0 {
		cfg.ValueThreshold = DefaultValueThreshold
	}
	if cfg.MemTableSize == 0 {
		cfg.MemTableSize = DefaultMemTableSize
	}
	if cfg.NumMemtables == 0 {
		cfg.NumMemtables = DefaultNumMemtables
	}
	if cfg.BlockCacheSize == 0 {
		cfg.BlockCacheSize = DefaultBlockCacheSize
	}
	if cfg.IndexCacheSize == 0 {
		cfg.IndexCacheSize = DefaultIndexCacheSize
	}
	if cfg.RecordCacheSize == 0 {
		cfg.RecordCacheSize = DefaultRecordCacheSize
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.MaxValueSize == 0 {
		cfg.MaxValueSize = DefaultMaxValueSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate checks cfg after applying defaults. Errors name the key.
func (cfg Config) Validate() error {
	c := cfg.withDefaults()
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("badgerstore: %s: %s", key, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Path == "":
		return errors.New("badgerstore: path: must not be empty")
	case c.Sync != SyncAlways && c.Sync != SyncInterval && c.Sync != SyncNone:
		return bad("sync", "%q is not a sync policy (want %q, %q or %q)", c.Sync, SyncAlways, SyncInterval, SyncNone)
	case c.SyncInterval < time.Millisecond || c.SyncInterval > time.Minute:
		return bad("sync_interval", "%s is outside [1ms, 1m]", c.SyncInterval)
	case c.ValueLogFileSize < 1<<20 || c.ValueLogFileSize >= 2<<30:
		return bad("value_log_file_size", "%d is outside [1 MiB, 2 GiB)", c.ValueLogFileSize)
	case c.MemTableSize < 1<<20:
		return bad("mem_table_size", "%d is below 1 MiB", c.MemTableSize)
	case c.ValueThreshold < 0 || c.ValueThreshold > c.MemTableSize*15/100 || c.ValueThreshold > 1<<20:
		return bad("value_threshold", "%d is outside [0, min(1 MiB, 15%% of mem_table_size)]", c.ValueThreshold)
	case c.NumMemtables < 1:
		return bad("num_memtables", "%d is below 1", c.NumMemtables)
	case c.BlockCacheSize < 0:
		return bad("block_cache_size", "%d is negative", c.BlockCacheSize)
	case c.IndexCacheSize < 0:
		return bad("index_cache_size", "%d is negative", c.IndexCacheSize)
	case c.GCInterval < time.Second:
		return bad("gc_interval", "%s is below 1s", c.GCInterval)
	case c.MaxValueSize < 1:
		return bad("max_value_size", "%d is below 1", c.MaxValueSize)
	case int64(c.MaxValueSize)+headerLen+1024 >= c.ValueLogFileSize:
		return bad("max_value_size", "%d does not fit in a value-log file of %d bytes", c.MaxValueSize, c.ValueLogFileSize)
	}
	return nil
}
