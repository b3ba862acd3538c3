package peering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// Defaults for Config fields left zero. They are the documented defaults of
// the peering.* keys.
const (
	DefaultListen         = ":42425"
	DefaultRequestTimeout = 2 * time.Second
	DefaultDrainTimeout   = 30 * time.Second
	DefaultDeadAfter      = 30 * time.Second
	DefaultLease          = 10 * time.Second
	DefaultRestartGrace   = 5 * time.Second
)

// TLSFiles names the PEM files of a member's mutual TLS identity.
type TLSFiles struct {
	CAFile   string `koanf:"ca_file" help:"PEM file of the farm's CA; peers must present certificates it signed"`
	CertFile string `koanf:"cert_file" help:"PEM certificate of this gateway, naming its member ID as a DNS SAN"`
	KeyFile  string `koanf:"key_file" help:"PEM private key of cert_file"`
}

// Config configures a Node. Members and Self are required; the rest default.
type Config struct {
	// Self is this gateway's member ID; it must be one of Members.
	Self string `koanf:"self" help:"this gateway's member ID (one of peering.members); empty turns peering off"`
	// Listen is the peer listener's address.
	Listen string `koanf:"listen" help:"address of the peer listener (mutual TLS 1.3)"`
	// Members is the farm, identical on every gateway: "id=host:port" each.
	Members []string `koanf:"members" help:"every gateway of the farm as id=host:port (the same list on each)"`
	TLS     TLSFiles `koanf:"tls"`
	// RequestTimeout bounds one forwarded operation; a web server's request
	// for an unreachable owner fails (connection closed) by then.
	RequestTimeout time.Duration `koanf:"request_timeout" help:"give up a forwarded request after this long (the client's own timeout is 10s)"`
	// DrainTimeout bounds the hand-off of every record on shutdown.
	DrainTimeout time.Duration `koanf:"drain_timeout" help:"on shutdown, hand records to their new owners for at most this long"`
	// DeadAfter: a member that another has not heard from for this long gets
	// that member's vote; a majority of votes declares it down (3+ members).
	DeadAfter time.Duration `koanf:"dead_after" help:"vote a member down after hearing nothing from it for this long; a majority of votes declares it down (3 or more members)"`
	// Lease: a gateway serves only while a majority of the members (itself
	// included) answered it within this long. Must be shorter than DeadAfter.
	Lease time.Duration `koanf:"lease" help:"serve only while a majority of members answered within this long (3 or more members); shorter than dead_after"`
	// AsideDir receives, as an export file, the records of a gateway that
	// was declared down, before it rejoins with an empty store.
	AsideDir string `koanf:"aside_dir" help:"where a gateway declared down writes its old records (an export file) before rejoining empty; empty: a memory store drops them, a durable one refuses to rejoin"`
	// RestartGrace: a durable gateway stopped for a restart announces it; the
	// others hold requests for its sessions for up to this long instead of
	// failing them, and nothing moves. Must be shorter than DeadAfter.
	// Default: DefaultRestartGrace, or half of DeadAfter when that is shorter.
	RestartGrace time.Duration `koanf:"restart_grace" help:"a durable gateway stopping for a restart tells the others, which hold requests for its sessions this long (not failing them, moving nothing) until it is back; shorter than dead_after"`
	// DrainOnStop makes Stop drain (Leave) even over a durable store, instead
	// of announcing a restart: for taking a gateway out of the farm.
	DrainOnStop bool `koanf:"drain_on_stop" help:"on SIGTERM hand every session to the other members even with a durable store, instead of announcing a restart (to take a gateway out of the farm; SIGHUP applies it)"`

	// Dial, when set, opens peer connections (tests inject faults here).
	Dial func(ctx context.Context, addr string) (net.Conn, error) `koanf:"-"`
	// Listener, when set, is used instead of listening on Listen (tests).
	Listener net.Listener `koanf:"-"`
	// Waits, when enabled, holds forwarded Gets and GetExclusives that find
	// the session locked here, at the owner, until the release (the
	// gateway's locking.Waiters, shared with its front end). Forwards then
	// allow RequestTimeout plus the wait.
	Waits *locking.Waiters `koanf:"-"`
	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time `koanf:"-"`
	// Logger receives link and view events (nil: slog.Default()).
	Logger *slog.Logger `koanf:"-"`
}

// Enabled reports whether peering is configured at all.
func (c *Config) Enabled() bool { return c.Self != "" || len(c.Members) > 0 }

// Member is one gateway of the farm.
type Member struct {
	ID   string
	Addr string // host:port, resolved again on every dial
}

// ParseMembers parses "id=host:port" entries into members sorted by ID.
func ParseMembers(list []string) ([]Member, error) {
	var out []Member
	seen := map[string]bool{}
	for _, s := range list {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			id, addr, ok := strings.Cut(part, "=")
			id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
			if !ok || id == "" || addr == "" {
				return nil, fmt.Errorf("peering.members: %q: want id=host:port", part)
			}
			if !validID(id) {
				return nil, fmt.Errorf("peering.members: %q: a member ID is a DNS name (letters, digits, '-' and '.'), as its certificate names it", id)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("peering.members: %q: %v", part, err)
			}
			if seen[id] {
				return nil, fmt.Errorf("peering.members: member %q listed twice", id)
			}
			seen[id] = true
			out = append(out, Member{ID: id, Addr: addr})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func validID(id string) bool {
	if len(id) > 253 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// MaxMembers bounds the farm: peering is for a handful of gateways; beyond
// that, a shared Redis is the better tool.
const MaxMembers = 64

// Validate reports the first configuration error, naming the key.
func (c *Config) Validate() error {
	members, err := ParseMembers(c.Members)
	if err != nil {
		return err
	}
	switch {
	case len(members) == 0:
		return errors.New("peering.members: required when peering.self is set")
	case len(members) > MaxMembers:
		return fmt.Errorf("peering.members: %d members; at most %d", len(members), MaxMembers)
	case c.Self == "":
		return errors.New("peering.self: required when peering.members is set")
	}
	found := false
	for _, m := range members {
		found = found || m.ID == c.Self
	}
	if !found {
		return fmt.Errorf("peering.self: %q is not in peering.members", c.Self)
	}
	if c.TLS.CAFile == "" {
		return errors.New("peering.tls.ca_file: required (peer links are mutual TLS only; `aspstate certs` makes a farm CA)")
	}
	if c.TLS.CertFile == "" {
		return errors.New("peering.tls.cert_file: required (peer links are mutual TLS only)")
	}
	if c.TLS.KeyFile == "" {
		return errors.New("peering.tls.key_file: required (peer links are mutual TLS only)")
	}
	if c.RequestTimeout < 0 {
		return errors.New("peering.request_timeout: must not be negative")
	}
	if c.DrainTimeout < 0 {
		return errors.New("peering.drain_timeout: must not be negative")
	}
	if c.DeadAfter < 0 || c.Lease < 0 || c.RestartGrace < 0 {
		return errors.New("peering.dead_after, peering.lease, peering.restart_grace: must not be negative")
	}
	d := *c
	d.SetDefaults()
	if d.Lease >= d.DeadAfter {
		return fmt.Errorf("peering.lease: %v must be shorter than peering.dead_after (%v), or a paused gateway could serve after the others took its range", d.Lease, d.DeadAfter)
	}
	if d.RestartGrace >= d.DeadAfter {
		return fmt.Errorf("peering.restart_grace: %v must be shorter than peering.dead_after (%v): a restart that takes longer is a death", d.RestartGrace, d.DeadAfter)
	}
	return nil
}

// SetDefaults fills the keys left zero with their defaults.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = DefaultDeadAfter
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.RestartGrace == 0 {
		c.RestartGrace = min(DefaultRestartGrace, c.DeadAfter/2) // a short dead_after (tests) keeps it valid
	}
}

func (c *Config) withDefaults() Config {
	d := *c
	d.SetDefaults()
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}
