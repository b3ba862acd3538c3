package backendtest

import (
	"testing"

	"github.com/aspstate/aspstate/backends/memstore"
)

// TestDifferentialCoversTheProtocol checks that one default-length random
// sequence reaches every outcome worth comparing: a differential test whose
// generator never produced a 423 or an ActionFlags would prove little.
func TestDifferentialCoversTheProtocol(t *testing.T) {
	for seed := range uint64(3) {
		d := newDiffer(t, seed)
		sut, err := memstore.New(memstore.Config{Now: d.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sut.Close() })
		d.sut = sut
		d.run(diffSteps)
		for _, want := range []string{
			"get 200", "get 404", "get 423", "get ActionFlags", "get-exclusive ActionFlags",
			"get-exclusive 200", "get-exclusive 404", "get-exclusive 423",
			"release 200", "release 400", "release 423",
			"set 200", "set 400", "set 423",
			"remove 200", "remove 404", "remove 423",
			"reset-timeout 200", "reset-timeout 404",
		} {
			if d.seen[want] == 0 {
				t.Errorf("seed %d: %d steps never reached %q; reached %v", seed, diffSteps, want, d.seen)
			}
		}
	}
}
