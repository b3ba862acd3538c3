package peering

import (
	"strings"
	"testing"
)

func TestParseMembers(t *testing.T) {
	ms, err := ParseMembers([]string{"gw2=10.0.0.2:42425, gw1=gw1.farm:42425", "gw3=[::1]:42425"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].ID != "gw1" || ms[0].Addr != "gw1.farm:42425" || ms[2].Addr != "[::1]:42425" {
		t.Fatalf("parsed %+v", ms)
	}
	for _, bad := range []string{"gw1", "gw1=", "=a:1", "gw1=host", "g w=a:1", "gw1=a:1,gw1=b:1"} {
		if _, err := ParseMembers([]string{bad}); err == nil || !strings.Contains(err.Error(), "peering.members") {
			t.Errorf("%q: err %v, want one naming peering.members", bad, err)
		}
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	ok := Config{Self: "gw1", Members: []string{"gw1=a:1", "gw2=b:1"},
		TLS: TLSFiles{CAFile: "ca", CertFile: "c", KeyFile: "k"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(c *Config){
		"peering.self":          func(c *Config) { c.Self = "gw9" },
		"peering.members":       func(c *Config) { c.Members = nil },
		"peering.tls.ca_file":   func(c *Config) { c.TLS.CAFile = "" },
		"peering.tls.cert_file": func(c *Config) { c.TLS.CertFile = "" },
		"peering.tls.key_file":  func(c *Config) { c.TLS.KeyFile = "" },
		"peering.restart_grace": func(c *Config) { c.RestartGrace = DefaultDeadAfter },
	}
	for key, mutate := range cases {
		c := ok
		c.TLS = ok.TLS
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s: err %v", key, err)
		}
	}
}

// restart_grace defaults to 5s, or half of a shorter dead_after, so that a
// short dead_after alone stays valid.
func TestRestartGraceDefault(t *testing.T) {
	c := Config{Self: "gw1", Members: []string{"gw1=a:1"}, TLS: TLSFiles{CAFile: "ca", CertFile: "c", KeyFile: "k"},
		DeadAfter: 3e9, Lease: 1e9}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := c.withDefaults(); d.RestartGrace != 1500e6 {
		t.Fatalf("restart_grace with dead_after 3s: %v", d.RestartGrace)
	}
	c.DeadAfter = 0
	if d := c.withDefaults(); d.RestartGrace != DefaultRestartGrace {
		t.Fatalf("default restart_grace: %v", d.RestartGrace)
	}
}
