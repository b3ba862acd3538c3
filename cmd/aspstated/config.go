package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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

	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/backends/redisstore"
	"github.com/aspstate/aspstate/cmd/aspstated/admin"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/locking"
	"github.com/aspstate/aspstate/peering"
)

// Config is the gateway's whole configuration. Each section is a component's
// own Config: its struct tags name its keys, defaults and help (see fields.go),
// and its Validate method checks it. The keys are the dotted names of files,
// ASPSTATE_ variables and flags.
//
// To add a section (peering, admin, ...): give the component's Config struct
// koanf, default and help tags (and a Validate method), then add one field
// here, e.g. `Peering peering.Config `koanf:"peering"“. Flags, environment
// variables, --print-config, validation and the README check follow from it.
type Config struct {
	Listen string          `koanf:"listen" default:"127.0.0.1:42424" help:"address to accept web servers on (loopback only by default, like the stock service)"`
	Server frontend.Config `koanf:",squash"`
	// ShutdownTimeout bounds the wait for requests in flight at SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" default:"10s" help:"on SIGINT/SIGTERM, wait this long for requests in flight"`
	Log             struct {
		Level  string `koanf:"level" default:"info" help:"log level: debug, info, warn or error (debug logs every request, with session IDs); SIGHUP reloads it"`
		Format string `koanf:"format" default:"text" help:"log format: text or json"`
	} `koanf:"log"`
	Admin admin.Config `koanf:"admin"`
	// Debug is the listener's old name, kept as a deprecated alias.
	Debug struct {
		Listen string `koanf:"listen" help:"deprecated alias of admin.listen (used only when admin.listen is empty)"`
	} `koanf:"debug"`
	Backend BackendConfig      `koanf:"backend"`
	Peering peering.Config     `koanf:"peering" help:"peering"`
	Locking locking.WaitConfig `koanf:"locking" help:"lock wait"`
}

// BackendConfig has one section per driver, named as the driver is in
// backend.type (see drivers in backends.go); only the chosen one is used and
// validated.
type BackendConfig struct {
	Type   string             `koanf:"type" default:"memory" help:"where sessions live: memory, bbolt, badger or redis"`
	Memory memstore.Config    `koanf:"memory" help:"memory backend"`
	Bbolt  boltstore.Config   `koanf:"bbolt" help:"bbolt backend"`
	Badger badgerstore.Config `koanf:"badger" help:"badger backend"`
	Redis  redisSection       `koanf:"redis" help:"redis backend"`
}

// redisSection is the Redis driver's Config plus the keys that only the
// gateway reads (secrets from files).
type redisSection struct {
	redisstore.Config `koanf:",squash"`
	PasswordFile      string `koanf:"password_file" help:"file holding the password (one line), instead of password"`
	// fromFile: Password was read from PasswordFile (by an earlier Validate).
	fromFile bool
}

// Validate reads the password file, if any, then checks the driver's
// section; errors name the key.
func (r *redisSection) Validate() error {
	if r.PasswordFile != "" {
		if r.Password != "" && !r.fromFile {
			return errors.New("redisstore: password_file: set either password or password_file, not both")
		}
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return fmt.Errorf("redisstore: password_file: %v", err)
		}
		r.Password, r.fromFile = strings.TrimRight(string(b), "\r\n"), true
		if r.Password == "" {
			return fmt.Errorf("redisstore: password_file: %s is empty", r.PasswordFile)
		}
	}
	return r.Config.Validate()
}

const envPrefix = "ASPSTATE_"

// commandOnly are the flags that are not configuration keys.
var commandOnly = []string{"config", "print-config", "help", "version"}

// renamed maps keys that no longer exist to their new names, for the error.
var renamed = map[string]string{"version": "aspnet_version"}

// options are the command-line switches that are not configuration keys.
type options struct {
	configFile  string
	printConfig bool
	help        bool
	version     bool
}

// defaultConfig returns the configuration with every default applied.
func defaultConfig() *Config {
	var cfg Config
	if err := setDefaults(&cfg); err != nil {
		panic(err) // a wrong default tag: a programming error, caught by the tests
	}
	return &cfg
}

// defineFlags declares every configuration key as a flag with the same dotted
// name, its default and its help. It is the single list of valid keys: a key
// in a file or the environment that is not here is an error.
func defineFlags(fs *pflag.FlagSet) {
	for _, f := range fields(defaultConfig()) {
		defineFlag(fs, f)
	}
}

// loadConfig layers defaults, then the file, then ASPSTATE_ variables, then
// flags, and reports the first unknown or invalid key by name. It does not
// validate the result: Config.Validate does.
func loadConfig(args []string, environ []string) (*Config, *koanf.Koanf, options, *pflag.FlagSet, error) {
	var opt options
	fs := pflag.NewFlagSet("aspstated", pflag.ContinueOnError)
	fs.SortFlags = false
	defineFlags(fs)
	fs.StringVar(&opt.configFile, "config", "", "YAML (.yaml/.yml) or TOML (.toml) configuration file")
	fs.BoolVar(&opt.printConfig, "print-config", false, "validate and print the effective configuration (secrets masked), then exit")
	fs.BoolVarP(&opt.help, "help", "h", false, "show this help")
	fs.BoolVar(&opt.version, "version", false, "print the build's version and exit")
	fs.SetOutput(new(strings.Builder)) // errors are returned, not printed twice
	if err := fs.Parse(args); err != nil {
		return nil, nil, opt, fs, err
	}
	if fs.NArg() > 0 {
		return nil, nil, opt, fs, fmt.Errorf("unexpected argument %q (configuration is given as --key value)", fs.Arg(0))
	}
	known := map[string]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) { known[f.Name] = f })
	for _, name := range commandOnly {
		delete(known, name) // switches, not keys a file or the environment may set
	}

	k := koanf.New(".")
	// Platform defaults (Windows: data under %ProgramData%, the stock
	// service's registry settings) sit just above the built-in defaults: a
	// file, variable or flag overrides them.
	for key, v := range platformDefaults() {
		if err := k.Set(key, v); err != nil {
			return nil, nil, opt, fs, err
		}
	}
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
				if to, ok := renamed[key]; ok && envErr == nil {
					envErr = fmt.Errorf("environment variable %s: %s: renamed to %s", name, key, to)
				}
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
	// peering.restart_grace defaults to min(5s, dead_after/2): when nobody set
	// it, it follows a dead_after that was set (posflag would supply the
	// flag's fixed default).
	graceSet := k.Exists("peering.restart_grace") || fs.Changed("peering.restart_grace")
	if err == nil {
		err = k.Load(posflag.Provider(fs, ".", k), nil)
	}
	if err != nil {
		return nil, nil, opt, fs, err
	}
	for _, name := range commandOnly {
		k.Delete(name)
	}
	// Decode into a zero Config: every key is in k (posflag supplies the
	// defaults), and fields that are not keys stay zero for the components'
	// own defaults.
	var cfg Config
	for _, f := range fields(&cfg) {
		if err := decode(f.key, k.Get(f.key), f.v); err != nil {
			return nil, nil, opt, fs, err
		}
	}
	if !graceSet {
		cfg.Peering.RestartGrace = 0 // SetDefaults derives it from dead_after
		cfg.Peering.SetDefaults()
		k.Set("peering.restart_grace", cfg.Peering.RestartGrace.String())
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
			if to, ok := renamed[key]; ok {
				return fmt.Errorf("%s: %s: renamed to %s", where, key, to)
			}
			return fmt.Errorf("%s: unknown configuration key %q", where, key)
		}
	}
	return nil
}

// printConfig writes the effective configuration as YAML, secrets masked.
func printConfig(k *koanf.Koanf, w io.Writer) error {
	c := k.Copy()
	for _, f := range fields(defaultConfig()) {
		if f.secret && c.String(f.key) != "" {
			c.Set(f.key, "********")
		}
	}
	b, err := c.Marshal(yaml.Parser())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// effectiveConfig is the configuration in effect as flattened keys, secrets
// masked as "***" (the operators' overview shows it).
func effectiveConfig(k *koanf.Koanf) map[string]any {
	c := k.Copy()
	for _, f := range fields(defaultConfig()) {
		if f.secret && c.String(f.key) != "" {
			c.Set(f.key, "***")
		}
	}
	out := c.All()
	for key, v := range out {
		if s, ok := v.(fmt.Stringer); ok { // durations as "30s", not nanoseconds
			out[key] = s.String()
		}
	}
	return out
}
