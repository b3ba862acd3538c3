//go:build linux

package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// With peering, /readyz follows the lease: a gateway that loses contact with
// the majority (both others paused) becomes not ready within peering.lease,
// says why, and is ready again once they resume.
func TestReadyzFollowsThePeeringLease(t *testing.T) {
	f := startPeerFarm(t, "memory", "--peering.lease", "1s", "--peering.dead_after", "30s")
	base := "http://" + f.admin[0]
	waitUntil(t, "gw1 ready", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })
	for _, g := range f.gws[1:] {
		g.cmd.Process.Signal(syscall.SIGSTOP)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			for _, g := range f.gws[1:] {
				g.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(resume)
	paused := time.Now()
	waitUntil(t, "gw1 not ready without a majority", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 503 })
	t.Logf("gw1 not ready %v after the other two were paused (lease 1s)", time.Since(paused).Round(10*time.Millisecond))
	if _, body := httpGet(t, base+"/readyz"); !strings.Contains(body, "peering: not serving") {
		t.Errorf("/readyz body %q does not say why", body)
	}
	resume()
	waitUntil(t, "gw1 ready again", 10*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })
}
