package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aspstate/aspstate/locking"
)

// The lock-wait keys: defaults, decoding, and errors that exit 2 naming the key.
func TestLockWaitKeys(t *testing.T) {
	cfg, _, _, _, err := loadConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Locking.Wait != 0 || cfg.Locking.MaxWaiters != 50 {
		t.Fatalf("defaults: wait %v, max_waiters %d; want 0s and 50", cfg.Locking.Wait, cfg.Locking.MaxWaiters)
	}
	if cfg.Locking.Hot423s != locking.DefaultHot423s || cfg.Locking.HotDelay != locking.DefaultHotDelay {
		t.Fatalf("defaults: hot_423s %d, hot_delay %v; want %d and %v", cfg.Locking.Hot423s, cfg.Locking.HotDelay,
			locking.DefaultHot423s, locking.DefaultHotDelay)
	}
	cfg, _, _, _, err = loadConfig([]string{"--locking.wait", "1500ms"}, []string{"ASPSTATE_LOCKING__MAX_WAITERS=7"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Locking.Wait != 1500*time.Millisecond || cfg.Locking.MaxWaiters != 7 {
		t.Fatalf("decoded wait %v, max_waiters %d; want 1.5s and 7", cfg.Locking.Wait, cfg.Locking.MaxWaiters)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--locking.wait", "6s"}, "locking.wait:"},
		{[]string{"--locking.wait", "-1s"}, "locking.wait:"},
		{[]string{"--locking.max_waiters", "-1"}, "locking.max_waiters:"},
		{[]string{"--locking.hot_423s", "-1"}, "locking.hot_423s:"},
		{[]string{"--locking.hot_delay", "51ms"}, "locking.hot_delay:"},
	} {
		code, out := runConfig(t, append(tc.args, "--print-config"))
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q; want exit 2 naming %q", tc.args, code, out, tc.want)
		}
	}
}
