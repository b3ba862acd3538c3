package frontend_test

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/aspstate/aspstate/internal/testlog"
	"log/slog"
	"strings"
	"testing"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/frontend"
)

// syncBuffer is a log destination the code under test writes from its own goroutines.
type syncBuffer = testlog.Buffer

// TestBackendFailureLogsNoKey: session IDs are credentials. When the backend
// fails or refuses a request, no log line above debug level holds the key;
// the lines carry its hash instead, and only debug lines hold the key.
func TestBackendFailureLogsNoKey(t *testing.T) {
	const (
		failKey = "/LM/W3SVC/1/ROOT/app(secretFailingSessionId)"
		fullKey = "/LM/W3SVC/1/ROOT/app(secretRefusedSessionId)"
	)
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs := &faultStore{failKey: failKey, fullKey: fullKey}
	h := newHarness(t,
		withConfig(func(c *frontend.Config) { c.Logger = log }),
		withBackend(func(b backends.Backend) backends.Backend { fs.Backend = b; return fs }))

	c := h.dial()
	c.send(rq("GET", "%2fLM%2fW3SVC%2f1%2fROOT%2fapp(secretFailingSessionId)", "", ""))
	if got := c.readToEOF(); got != "" {
		t.Errorf("failing backend: got %q, want the connection closed", got)
	}
	c = h.dial()
	c.do(rq("PUT", "%2fLM%2fW3SVC%2f1%2fROOT%2fapp(secretRefusedSessionId)", "Timeout: 20\r\nContent-Length: 7\r\n", B7), t400)
	c.finish()
	if err := h.shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	seen := map[string]bool{}
	for _, line := range lines {
		for _, key := range []string{failKey, fullKey} {
			sum := sha256.Sum256([]byte(key))
			if strings.Contains(line, "key_hash="+hex.EncodeToString(sum[:4])) && !strings.Contains(line, "level=DEBUG") {
				seen[key] = true
			}
			if strings.Contains(line, "secret") && !strings.Contains(line, "level=DEBUG") {
				t.Errorf("a line above debug level holds a session key: %s", line)
			}
		}
	}
	for _, key := range []string{failKey, fullKey} {
		if !seen[key] {
			t.Errorf("no warn or error line carries the hash of %q; log:\n%s", key, out.String())
		}
	}
	if !strings.Contains(out.String(), "level=DEBUG") || !strings.Contains(out.String(), "secretFailingSessionId") {
		t.Errorf("the debug lines do not hold the key; log:\n%s", out.String())
	}
}
