package badgerstore

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Badger logs keys as byte slices when a read fails; they must not reach the
// log, whatever the verb.
func TestBadgerLogLinesNeverCarryKeys(t *testing.T) {
	var buf bytes.Buffer
	a := slogAdapter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	key := []byte("s/LM/W3SVC/1/ROOT/shop(abc)/secretsessionid0000000000")
	a.Errorf("Unable to read: Key: %v, Version : %v", key, 7)
	a.Warningf("While reading key: %x, got error: %v", key, "boom")
	a.Infof("key %s %q", key, key)
	out := buf.String()
	for _, form := range []string{"secretsessionid", "7365637265", "115 101 99 114"} {
		if strings.Contains(out, form) {
			t.Fatalf("a key reached the log (%q):\n%s", form, out)
		}
	}
	if strings.Count(out, "<53 bytes redacted>") != 4 || !strings.Contains(out, "Version : 7") || !strings.Contains(out, "boom") {
		t.Fatalf("the rest of the lines should survive:\n%s", out)
	}
}
