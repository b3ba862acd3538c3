package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runConfig runs the binary's run function with args and environ and returns
// its exit code and output; only for runs that stop before serving.
func runConfig(t *testing.T, args []string, environ ...string) (int, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(context.Background(), runEnv{args: args, environ: environ, stdout: &out, stderr: &errOut})
	return code, out.String() + errOut.String()
}

// peerArgs is a valid peering section with (empty) certificate files.
func peerArgs(t *testing.T) []string {
	dir := t.TempDir()
	var args []string
	for key, name := range map[string]string{"ca_file": "ca.pem", "cert_file": "gw1.pem", "key_file": "gw1-key.pem"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, nil, 0o600)
		args = append(args, "--peering.tls."+key, p)
	}
	return append(args, "--peering.self", "gw1", "--peering.members", "gw1=127.0.0.1:1,gw2=127.0.0.1:2")
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every configuration error exits 2, before anything is opened, with a
// message that names the dotted key; --print-config validates the same way.
func TestConfigErrorsExit2NamingTheKey(t *testing.T) {
	yamlBare := writeFile(t, "bare.yaml", "idle_timeout: 30\n")
	tomlBare := writeFile(t, "bare.toml", "[backend.bbolt]\nflush_interval = 5\n")
	cases := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"bare duration in YAML", []string{"--config", yamlBare}, nil, "idle_timeout: 30 has no unit"},
		{"bare duration in TOML", []string{"--config", tomlBare}, nil, "backend.bbolt.flush_interval: 5 has no unit"},
		{"bare duration in env", nil, []string{"ASPSTATE_WRITE_TIMEOUT=10"}, "write_timeout:"},
		{"bad integer in env", nil, []string{"ASPSTATE_MAX_CONNECTIONS=many"}, "max_connections:"},
		{"bbolt sync", []string{"--backend.type", "bbolt", "--backend.bbolt.sync", "sometimes"}, nil, "backend.bbolt.sync: "},
		{"badger interval", []string{"--backend.type", "badger", "--backend.badger.gc_interval", "1ms"}, nil, "backend.badger.gc_interval: "},
		{"redis db", []string{"--backend.type", "redis", "--backend.redis.db", "-1"}, nil, "backend.redis.db: "},
		{"redis tls", []string{"--backend.type", "redis", "--backend.redis.tls.ca_file", "ca.pem"}, nil, "backend.redis.tls.enabled: "},
		{"memory cap", []string{"--backend.memory.max_bytes", "-1"}, nil, "backend.memory.max_bytes: "},
		{"unknown backend", []string{"--backend.type", "floppy"}, nil, "backend.type: "},
		{"aspnet_version", []string{"--aspnet_version", "1.1.4322"}, nil, "aspnet_version: "},
		{"network", []string{"--allowed_networks", "10.0.0.0/33"}, nil, "allowed_networks: "},
		{"log level", []string{"--log.level", "chatty"}, nil, "log.level: "},
		{"line limit", []string{"--limits.max_line_bytes", "10"}, nil, "limits.max_line_bytes: "},
		{"listen", []string{"--listen", "nohost"}, nil, "listen: "},
		{"peering self not a member", append(peerArgs(t), "--peering.self", "gw9"), nil, "peering.self: "},
		{"peering member list", []string{"--peering.self", "gw1", "--peering.members", "gw1"}, nil, "peering.members: "},
		{"peering without certificates", []string{"--peering.self", "gw1", "--peering.members", "gw1=a:1"}, nil, "peering.tls.ca_file: "},
		{"peering certificate missing", append(peerArgs(t), "--peering.tls.cert_file", "/nonexistent.pem"), nil, "peering.tls.cert_file: "},
		{"peering on redis", append(peerArgs(t), "--backend.type", "redis"), nil, "peering.self: "},
	}
	for _, tc := range cases {
		for _, print := range []bool{false, true} {
			args := tc.args
			if print {
				args = append([]string{"--print-config"}, args...)
			}
			code, out := runConfig(t, args, tc.environ...)
			if code != 2 || !strings.Contains(out, tc.want) {
				t.Errorf("%s (print-config %v): exit %d, output %q; want exit 2 naming %q", tc.name, print, code, out, tc.want)
			}
		}
	}
}

func TestPrintConfigMasksSecretsAndAcceptsUnits(t *testing.T) {
	f := writeFile(t, "c.yaml", "idle_timeout: 30s\nbackend:\n  redis:\n    password: hunter2\n")
	code, out := runConfig(t, []string{"--print-config", "--config", f}, "ASPSTATE_WRITE_TIMEOUT=0.5s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "password: '********'") {
		t.Fatalf("password not masked:\n%s", out)
	}
	for _, want := range []string{"idle_timeout: 30s", "write_timeout: 0.5s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
}

// Values reach the components' own Config structs, whatever their source.
func TestLoadConfigDecodesIntoComponentConfigs(t *testing.T) {
	f := writeFile(t, "c.toml", "allowed_networks = [\"10.1.2.3/8\"]\n[backend.redis]\naddrs = [\"a:1\", \"b:2\"]\n[backend.redis.tls]\nenabled = true\n")
	cfg, _, _, _, err := loadConfig([]string{"--config", f, "--backend.badger.value_threshold", "512"},
		[]string{"ASPSTATE_IDLE_TIMEOUT=2m", "ASPSTATE_BACKEND__BBOLT__PATH=/x.db"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Server.AllowedNetworks, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}; !reflect.DeepEqual(got, want) {
		t.Errorf("allowed_networks %v, want %v (masked)", got, want)
	}
	if !reflect.DeepEqual(cfg.Backend.Redis.Addrs, []string{"a:1", "b:2"}) || !cfg.Backend.Redis.TLS.Enabled {
		t.Errorf("redis section %+v", cfg.Backend.Redis)
	}
	if cfg.Server.IdleTimeout != 2*time.Minute || cfg.Backend.Bbolt.Path != "/x.db" || cfg.Backend.Badger.ValueThreshold != 512 {
		t.Errorf("idle %v, bbolt path %q, badger threshold %d", cfg.Server.IdleTimeout, cfg.Backend.Bbolt.Path, cfg.Backend.Badger.ValueThreshold)
	}
	if cfg.Server.Limits.MaxBodyBytes == 0 || cfg.Backend.Redis.Pipelines == 0 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

// A default must be given once: by a default tag or by SetDefaults.
func TestDefaultGivenTwiceIsAnError(t *testing.T) {
	defaultConfig() // panics if the real tags disagree
	var c struct {
		S struct {
			Sync string `koanf:"sync" default:"x"`
		} `koanf:"s"`
	}
	c.S.Sync = "set by SetDefaults"
	err := setDefaults(&c)
	if err == nil || !strings.Contains(err.Error(), "s.sync") {
		t.Fatalf("err %v, want one naming s.sync", err)
	}
}

// The walker supports what a new section needs: nested structs, string,
// []string, int, int64, bool and durations, with help prefixes and secrets.
func TestFieldsOfANewSection(t *testing.T) {
	var c struct {
		Peering struct {
			Self    string        `koanf:"self" help:"this member's id"`
			Members []string      `koanf:"members" default:"a=h:1,b=h:2" help:"members"`
			N       int           `koanf:"n" default:"3" help:"n"`
			Big     int64         `koanf:"big" default:"-7" help:"big"`
			On      bool          `koanf:"on" default:"true" help:"on"`
			Timeout time.Duration `koanf:"request_timeout" default:"2s" help:"t"`
			TLS     struct {
				KeyFile string `koanf:"key_file" secret:"true" help:"key"`
			} `koanf:"tls"`
			Now func() time.Time
		} `koanf:"peering" help:"peering"`
	}
	if err := setDefaults(&c); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range fields(&c) {
		keys = append(keys, f.key)
		if !strings.HasPrefix(f.help, "peering: ") {
			t.Errorf("%s: help %q lacks the section's prefix", f.key, f.help)
		}
	}
	want := []string{"peering.self", "peering.members", "peering.n", "peering.big", "peering.on", "peering.request_timeout", "peering.tls.key_file"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	p := c.Peering
	if !reflect.DeepEqual(p.Members, []string{"a=h:1", "b=h:2"}) || p.N != 3 || p.Big != -7 || !p.On || p.Timeout != 2*time.Second {
		t.Fatalf("defaults %+v", p)
	}
}
