package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Defaults. The timeouts are short on purpose: the web server gives up on a
// request after 10 s (stateNetworkTimeout), and a stalled Redis must turn into
// an error the gateway can act on well before that.
const (
	DefaultKeyPrefix    = "aspstate:"
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	// DefaultOpTimeout bounds one Apply, retries and conflicts included.
	DefaultOpTimeout = 3 * time.Second
	// DefaultMaxRetries is go-redis's per-command retry count on network
	// errors. One retry absorbs a pooled connection that died with a Redis
	// restart; more would only stretch an outage past OpTimeout.
	DefaultMaxRetries = 1
	// DefaultMaxValueSize matches the front end's largest request body.
	DefaultMaxValueSize = backends.DefaultMaxValueSize
	// DefaultPipelines: one pipeline in flight makes the largest batches,
	// which costs the gateway and Redis the least CPU per request; on
	// loopback it gave 4.5% more reads/s and 11% more cycles/s than two
	// (BENCHMARKS.md).
	DefaultPipelines = 1
	// MaxPipelines bounds Pipelines: past a few, batches shrink to single
	// calls and batching is lost.
	MaxPipelines = 64
)

// Config selects and tunes the Redis deployment. The zero value with one
// address is a working configuration. Errors from Validate and Open name the
// configuration key (as spelled in the gateway's config file) they are about.
// The koanf, default, help and secret tags define the gateway's configuration
// keys (backend.redis.*, cmd/aspstated).
type Config struct {
	// Addrs: one address for a standalone server; the Sentinel addresses when
	// MasterName is set; several addresses (seed nodes) for a Cluster.
	Addrs []string `koanf:"addrs" default:"127.0.0.1:6379" help:"address, sentinel addresses (with master_name) or cluster addresses"`
	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string `koanf:"master_name" help:"Sentinel master name"`
	// Username and Password authenticate with AUTH (ACL user when Username is
	// set). With Sentinel they are used for the data nodes, not the sentinels.
	Username string `koanf:"username" help:"ACL user name"`
	Password string `koanf:"password" secret:"true" help:"password"`
	// DB is the database number; a Cluster only has database 0.
	DB int `koanf:"db" help:"database number"`
	// KeyPrefix is put in front of every key this store writes (default
	// "aspstate:"), so that several deployments can share one Redis.
	KeyPrefix string `koanf:"key_prefix" help:"prefix of every key this gateway writes"`
	// PoolSize is the number of connections per node (default: go-redis's,
	// 10 per GOMAXPROCS).
	PoolSize int `koanf:"pool_size" help:"connections per node (0: the library default, 10 per CPU)"`
	// Pipelines is the number of shared pipelines in flight at once per
	// node (default 1). Concurrent requests wait for the pipeline in flight
	// and leave together in the next one. More pipelines may shorten that
	// wait when Redis is far away (round trips well above 100 µs), at the
	// price of smaller batches; that case has not been measured.
	Pipelines int `koanf:"pipelines" help:"shared pipelines in flight at once per node (1 makes the largest batches)"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each network step
	// (defaults 1 s each).
	DialTimeout  time.Duration `koanf:"dial_timeout" help:"connect timeout"`
	ReadTimeout  time.Duration `koanf:"read_timeout" help:"read timeout"`
	WriteTimeout time.Duration `koanf:"write_timeout" help:"write timeout"`
	// OpTimeout bounds one Apply including retries (default 3 s); a caller's
	// context with an earlier deadline wins.
	OpTimeout time.Duration `koanf:"op_timeout" help:"bound on one operation, retries included (keep it under the web server's 10 s)"`
	// MaxRetries is go-redis's retry count for one command on a network error
	// (default 1; -1 for none).
	MaxRetries int `koanf:"max_retries" help:"retries of one command after a network error (-1: none)"`
	// TLS configures encrypted connections.
	TLS TLSConfig `koanf:"tls"`
	// MaxValueSize is the largest Record.Data accepted (default 20 MiB);
	// larger stores fail with backends.ErrTooLarge. The gateway passes its
	// limits.max_body_bytes.
	MaxValueSize int `koanf:"-"`
	// Now is the gateway's clock (default time.Now). Deadlines are computed
	// from it, not from Redis's clock, so that tests can drive expiry.
	Now func() time.Time
	// Logger receives connection state changes (default slog.Default()).
	Logger *slog.Logger

	// goRedisOnly sends every command through go-redis, one call at a
	// time (no batcher, no pipeConns): the path measured against the
	// hand-written one for issue 16. Tests set it; so does the
	// aspstate_goredis build tag (goredis_on.go), for scripts/altbench.sh.
	goRedisOnly bool
}

// TLSConfig configures TLS to Redis.
type TLSConfig struct {
	Enabled bool `koanf:"enabled" help:"use TLS"`
	// CAFile is a PEM bundle to verify the server with (default: system roots).
	CAFile string `koanf:"ca_file" help:"CA bundle to verify the server"`
	// CertFile and KeyFile are a client certificate, for servers that
	// require one (tls-auth-clients).
	CertFile string `koanf:"cert_file" help:"client certificate"`
	KeyFile  string `koanf:"key_file" help:"client key"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `koanf:"server_name" help:"expected server name"`
	// InsecureSkipVerify disables verification. For tests only.
	InsecureSkipVerify bool `koanf:"insecure_skip_verify" help:"do not verify the server certificate (testing only)"`
}

// Validate reports the first configuration error. It does not touch the
// network or the file system.
func (c Config) Validate() error {
	if len(c.Addrs) == 0 {
		return errors.New("redisstore: addrs: at least one address is required")
	}
	for _, a := range c.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("redisstore: addrs: %q is not host:port", a)
		}
	}
	if c.DB < 0 {
		return fmt.Errorf("redisstore: db: %d is negative", c.DB)
	}
	if c.isCluster() && c.DB != 0 {
		return fmt.Errorf("redisstore: db: a Redis Cluster (several addrs, no master_name) only has database 0, not %d", c.DB)
	}
	if c.PoolSize < 0 {
		return fmt.Errorf("redisstore: pool_size: %d is negative", c.PoolSize)
	}
	if c.Pipelines < 0 || c.Pipelines > MaxPipelines {
		return fmt.Errorf("redisstore: pipelines: %d is not between 1 and %d (0: default %d)", c.Pipelines, MaxPipelines, DefaultPipelines)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"dial_timeout", c.DialTimeout}, {"read_timeout", c.ReadTimeout},
		{"write_timeout", c.WriteTimeout}, {"op_timeout", c.OpTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("redisstore: %s: %v is negative", d.key, d.v)
		}
	}
	if c.MaxRetries < -1 {
		return fmt.Errorf("redisstore: max_retries: %d (use -1 for none)", c.MaxRetries)
	}
	if c.MaxValueSize < 0 {
		return fmt.Errorf("redisstore: max_value_size: %d is negative", c.MaxValueSize)
	}
	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		return errors.New("redisstore: tls.enabled: TLS options are set but tls.enabled is false")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("redisstore: tls.cert_file: cert_file and key_file must be set together")
	}
	return nil
}

func (c *Config) isCluster() bool { return c.MasterName == "" && len(c.Addrs) > 1 }

// SetDefaults gives every unset field its default, as Open does.
func (c *Config) SetDefaults() { *c = c.withDefaults() }

// withDefaults returns c with every unset field defaulted.
func (c Config) withDefaults() Config {
	c.goRedisOnly = c.goRedisOnly || goRedisBuild
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.Pipelines == 0 {
		c.Pipelines = DefaultPipelines
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// tlsConfig loads the files named by t.
func (t *TLSConfig) tlsConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as for tests
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redisstore: tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redisstore: tls.ca_file: no PEM certificates in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redisstore: tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
