package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Config is the gateway's whole configuration. The koanf tags are the dotted
// keys of files, ASPSTATE_ variables and flags (see flags.go).
type Config struct {
	Listen          string        `koanf:"listen"`
	AllowedNetworks []string      `koanf:"allowed_networks"`
	Version         string        `koanf:"version"`
	IdleTimeout     time.Duration `koanf:"idle_timeout"`
	WriteTimeout    time.Duration `koanf:"write_timeout"`
	MaxConnections  int           `koanf:"max_connections"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	Limits          struct {
		MaxLineBytes   int   `koanf:"max_line_bytes"`
		MaxHeaderLines int   `koanf:"max_header_lines"`
		MaxBodyBytes   int64 `koanf:"max_body_bytes"`
	} `koanf:"limits"`
	Log struct {
		Level  string `koanf:"level"`
		Format string `koanf:"format"`
	} `koanf:"log"`
	Debug struct {
		Listen string `koanf:"listen"`
	} `koanf:"debug"`
	Backend BackendConfig `koanf:"backend"`
}

// BackendConfig has one section per driver; only the chosen one is used.
type BackendConfig struct {
	Type   string `koanf:"type"`
	Memory struct {
		MaxBytes int64 `koanf:"max_bytes"`
	} `koanf:"memory"`
	Bbolt struct {
		Path          string        `koanf:"path"`
		Sync          string        `koanf:"sync"`
		FlushInterval time.Duration `koanf:"flush_interval"`
		SweepInterval time.Duration `koanf:"sweep_interval"`
	} `koanf:"bbolt"`
	Badger struct {
		Path             string        `koanf:"path"`
		Sync             string        `koanf:"sync"`
		SyncInterval     time.Duration `koanf:"sync_interval"`
		RecordCacheSize  int64         `koanf:"record_cache_size"`
		ValueLogFileSize int64         `koanf:"value_log_file_size"`
		ValueThreshold   int64         `koanf:"value_threshold"`
		MemTableSize     int64         `koanf:"mem_table_size"`
		BlockCacheSize   int64         `koanf:"block_cache_size"`
		IndexCacheSize   int64         `koanf:"index_cache_size"`
		NumMemtables     int           `koanf:"num_memtables"`
		GCInterval       time.Duration `koanf:"gc_interval"`
	} `koanf:"badger"`
	Redis struct {
		Addrs        []string      `koanf:"addrs"`
		MasterName   string        `koanf:"master_name"`
		Username     string        `koanf:"username"`
		Password     string        `koanf:"password"`
		DB           int           `koanf:"db"`
		KeyPrefix    string        `koanf:"key_prefix"`
		PoolSize     int           `koanf:"pool_size"`
		Pipelines    int           `koanf:"pipelines"`
		DialTimeout  time.Duration `koanf:"dial_timeout"`
		ReadTimeout  time.Duration `koanf:"read_timeout"`
		WriteTimeout time.Duration `koanf:"write_timeout"`
		OpTimeout    time.Duration `koanf:"op_timeout"`
		MaxRetries   int           `koanf:"max_retries"`
		TLS          struct {
			Enabled            bool   `koanf:"enabled"`
			CAFile             string `koanf:"ca_file"`
			CertFile           string `koanf:"cert_file"`
			KeyFile            string `koanf:"key_file"`
			ServerName         string `koanf:"server_name"`
			InsecureSkipVerify bool   `koanf:"insecure_skip_verify"`
		} `koanf:"tls"`
	} `koanf:"redis"`
}

const envPrefix = "ASPSTATE_"

// options are the command-line switches that are not configuration keys.
type options struct {
	configFile  string
	printConfig bool
	help        bool
}

// loadConfig layers defaults, then the file, then ASPSTATE_ variables, then
// flags, and reports the first unknown or invalid key by name.
func loadConfig(args []string, environ []string) (*Config, *koanf.Koanf, options, *pflag.FlagSet, error) {
	var opt options
	fs := pflag.NewFlagSet("aspstated", pflag.ContinueOnError)
	fs.SortFlags = false
	defineFlags(fs)
	fs.StringVar(&opt.configFile, "config", "", "YAML (.yaml/.yml) or TOML (.toml) configuration file")
	fs.BoolVar(&opt.printConfig, "print-config", false, "print the effective configuration and exit")
	fs.BoolVarP(&opt.help, "help", "h", false, "show this help")
	fs.SetOutput(new(strings.Builder)) // errors are returned, not printed twice
	if err := fs.Parse(args); err != nil {
		return nil, nil, opt, fs, err
	}
	if fs.NArg() > 0 {
		return nil, nil, opt, fs, fmt.Errorf("unexpected argument %q (configuration is given as --key value)", fs.Arg(0))
	}
	known := map[string]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) { known[f.Name] = f })

	k := koanf.New(".")
	if opt.configFile != "" {
		var parser koanf.Parser
		switch strings.ToLower(filepath.Ext(opt.configFile)) {
		case ".yaml", ".yml":
			parser = yaml.Parser()
		case ".toml":
			parser = toml.Parser()
		default:
			return nil, nil, opt, fs, fmt.Errorf("config file %s: unknown format (use .yaml, .yml or .toml)", opt.configFile)
		}
		if err := k.Load(file.Provider(opt.configFile), parser); err != nil {
			return nil, nil, opt, fs, fmt.Errorf("config file %s: %w", opt.configFile, err)
		}
		if err := checkKnown(k, known, "config file "+opt.configFile); err != nil {
			return nil, nil, opt, fs, err
		}
	}
	ek := koanf.New(".")
	var envErr error
	err := ek.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, val string) (string, any) {
			key := envKey(name)
			f, ok := known[key]
			if !ok {
				if envErr == nil {
					envErr = fmt.Errorf("environment variable %s: unknown configuration key %q", name, key)
				}
				return "", nil
			}
			if f.Value.Type() == "stringSlice" {
				return key, splitList(val)
			}
			return key, val
		},
	}), nil)
	if err == nil {
		err = envErr
	}
	if err == nil {
		err = k.Merge(ek)
	}
	if err == nil {
		err = k.Load(posflag.Provider(fs, ".", k), nil)
	}
	if err != nil {
		return nil, nil, opt, fs, err
	}
	for _, name := range []string{"config", "print-config", "help"} {
		k.Delete(name)
	}
	var cfg Config
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return nil, nil, opt, fs, fmt.Errorf("configuration: %w", err)
	}
	return &cfg, k, opt, fs, nil
}

// envKey maps ASPSTATE_BACKEND__REDIS__ADDRS to backend.redis.addrs: a
// double underscore separates levels, a single one stays part of the name.
func envKey(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, envPrefix)), "__", ".")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkKnown(k *koanf.Koanf, known map[string]*pflag.Flag, where string) error {
	keys := k.Keys()
	sort.Strings(keys)
	for _, key := range keys {
		if _, ok := known[key]; !ok {
			return fmt.Errorf("%s: unknown configuration key %q", where, key)
		}
	}
	return nil
}

// printConfig writes the effective configuration as YAML, secrets masked.
func printConfig(k *koanf.Koanf, w io.Writer) error {
	c := k.Copy()
	if c.String("backend.redis.password") != "" {
		c.Set("backend.redis.password", "********")
	}
	b, err := c.Marshal(yaml.Parser())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
