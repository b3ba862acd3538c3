package admin

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aspstate/aspstate/frontend/wire"
)

// screenshotPath is the README's picture of the page; UPDATE_SCREENSHOT=1
// makes TestAdminPageInChromium write it.
var screenshotPath = filepath.Join("..", "..", "..", "docs", "admin-page.png")

// The admin page in a real browser against a real gateway: it shows the
// session count and a held lock with its age; with the token it offers
// force-unlock, which the protocol then sees; the token stays in
// sessionStorage; the page fits a narrow screen; and nothing reaches the
// console's errors. Then a check that the checks can fail: an inline script
// is refused by the Content-Security-Policy, and that refusal is caught.
func TestAdminPageInChromium(t *testing.T) {
	b := newBrowser(t, 1280, 900)

	const token = "page-test-token-7f3a"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	be := newMem(t)
	g := start(t, be, "memory", func(o *Options) {
		o.TokenFile = tokenFile
		o.Sessions = be
		o.Version = "v1.0.0-test"
		// What the overview shows is the gateway's own business; this is a
		// plausible one, with a masked secret.
		o.EffectiveConfig = map[string]any{"listen": "0.0.0.0:42424", "backend.type": "memory", "admin.listen": "127.0.0.1:9424",
			"admin.token_file": "/etc/aspstate/admin-token", "backend.redis.password": "***", "log.level": "info"}
	})
	addr, err := g.adm.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()

	got := g.session(put("page-one"), put("page-two"), put("page-three"), get("page-one"), lock("page-two"))
	if want := []int{200, 200, 200, 200, 200}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	lockedAt := time.Now()

	// Without a token: counts, and the lock by key hash, with no button.
	b.do("opening the page", chromedp.Navigate(base+"/"))
	b.waitFor("the session count", `document.getElementById("sessions").textContent`, func(s string) bool { return s == "3" })
	b.waitFor("the requests table", `document.querySelector("#requests tbody").textContent`, func(s string) bool {
		return strings.Contains(s, "set") && strings.Contains(s, "get")
	})
	b.waitFor("the masked secret", `document.querySelector("#config tbody").textContent`, func(s string) bool {
		return strings.Contains(s, "backend.redis.password***")
	})
	// Live rates and latencies: the get row moves while requests come in.
	traffic := make([]*wire.ClientRequest, 20)
	for i := range traffic {
		traffic[i] = get("page-one")
	}
	b.waitFor("a rate and a latency for get", `(r => r ? Array.from(r.cells, c => c.textContent).join("|") : "")(Array.from(document.querySelectorAll("#requests tbody tr")).find(r => r.cells[0].textContent === "get"))`,
		func(s string) bool {
			g.session(traffic...)
			f := strings.Split(s, "|")
			return len(f) == 5 && f[1] != "0.0" && f[2] != "–" && f[3] != "–"
		})
	const lockAge = `Array.from(document.querySelectorAll("#locks tr[data-key-hash] td.age"), td => td.textContent).join("|")`
	age := b.waitFor("a lock at least 2s old", lockAge, func(s string) bool { n, ok := parseAge(s); return ok && n >= 2 })
	if n, _ := parseAge(age); float64(n) > time.Since(lockedAt).Seconds()+1 {
		t.Errorf("lock age %q, but it was taken %v ago", age, time.Since(lockedAt))
	}
	if n := eval[int](b, `document.querySelectorAll("#locks button").length`); n != 0 {
		t.Errorf("%d unlock buttons without a token", n)
	}

	// With the token: it is kept in sessionStorage only, and the lock gets
	// its button.
	b.do("entering the token", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#token-save")))
	b.waitFor("an unlock button", `String(document.querySelectorAll("#locks tr[data-key-hash] button.unlock").length)`,
		func(s string) bool { return s == "1" })
	if where := eval[string](b, `JSON.stringify([sessionStorage.getItem("aspstate-admin-token"), localStorage.length, location.href, document.cookie])`); where != `["`+token+`",0,"`+base+`/",""]` {
		t.Errorf("token, localStorage, URL and cookies: %s", where)
	}
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", screenshotPath, len(png))
	}

	if got := g.session(lock("page-two")); got[0] != 423 {
		t.Fatalf("before the force-unlock the protocol answers %d, want 423 (locked)", got[0])
	}
	b.do("asking to unlock", chromedp.Click(chromedp.CSS("#locks button.unlock")))
	b.waitFor("the confirmation", `document.querySelector("#locks button.unlock").textContent`, func(s string) bool { return s == "Confirm unlock" })
	b.do("confirming", chromedp.Click(chromedp.CSS("#locks button.unlock")))
	b.waitFor("the unlock reported", `document.getElementById("unlock-status").textContent`, func(s string) bool { return strings.HasPrefix(s, "Unlocked ") })
	b.waitFor("no lock listed", `document.querySelector("#locks tbody").textContent`, func(s string) bool { return s == "no locks held" })
	if got := g.session(lock("page-two")); got[0] != 200 {
		t.Errorf("after the force-unlock the protocol answers %d, want 200 (it could lock it)", got[0])
	}

	// A phone-sized screen: nothing wider than the viewport (tables scroll
	// inside their own boxes).
	b.do("a narrow screen", chromedp.EmulateViewport(390, 844))
	b.waitFor("no page-wide horizontal scroll", `String(document.documentElement.scrollWidth)`, func(s string) bool {
		n, _ := strconv.Atoi(s)
		return n <= 390
	})

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}

	// The checks above can fail: an inline script is refused by the policy
	// and the refusal is reported as an error.
	ran := eval[bool](b, `(() => { const s = document.createElement("script"); s.textContent = "window.inlineRan = true"; document.body.append(s); return window.inlineRan === true })()`)
	if ran {
		t.Error("an inline script ran: the Content-Security-Policy is not in force")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(b.consoleErrors(), func(s string) bool { return strings.Contains(s, "Content Security Policy") }) {
		if time.Now().After(deadline) {
			t.Fatalf("the refused inline script was not reported; errors: %q", b.consoleErrors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var ageRE = regexp.MustCompile(`^(?:(\d+)m )?(\d+)s$`)

// parseAge reads the page's "42s" and "3m 05s".
func parseAge(s string) (int, bool) {
	m := ageRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	min, _ := strconv.Atoi("0" + m[1])
	sec, _ := strconv.Atoi(m[2])
	return min*60 + sec, true
}
