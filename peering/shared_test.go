package peering

import (
	"strings"
	"testing"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
)

// sharedStore is a Mover that says it is shared, as the Redis store does.
type sharedStore struct{ *memstore.Store }

func (sharedStore) Shared() bool { return true }

var _ backends.Shared = sharedStore{}

// A shared store (Redis) implements Mover for export and the operators' API,
// but peering still refuses it: there is nothing to hand off.
func TestNewRefusesASharedStore(t *testing.T) {
	st, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := Config{Self: "gw1", Members: []string{"gw1=127.0.0.1:1001", "gw2=127.0.0.1:1002"},
		TLS: TLSFiles{CAFile: "-", CertFile: "-", KeyFile: "-"}, Logger: testLogger(t, "gw1")}
	if nd, err := New(cfg, sharedStore{st}); err == nil || !strings.Contains(err.Error(), "Redis already shares state") {
		if nd != nil {
			nd.Close()
		}
		t.Fatalf("New on a shared store: %v, want the refusal", err)
	}
	nd, err := New(cfg, st)
	if err != nil {
		t.Fatalf("New on a memory store: %v", err)
	}
	nd.Close()
}
