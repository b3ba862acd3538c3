package admin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium (`apt-get install chromium`; .ci/run
// installs it).
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium tab driven over the DevTools protocol,
// with the errors its console reported.
type browser struct {
	t   *testing.T
	ctx context.Context
	out *bytes.Buffer // Chromium's own output, shown on failure

	mu   sync.Mutex // guards errs
	errs []string
}

// newBrowser starts Chromium with a fresh profile and no network of its own
// (no sync, updates, QUIC or background fetches); it is stopped at cleanup.
// The test is skipped when Chromium is not installed, except on CI, where
// that is a failure.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing on CI: .ci/run should have installed it (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s is missing: `apt-get install chromium` to run the admin page's browser test", chromiumPath)
	}
	out := new(bytes.Buffer)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-pings", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.CombinedOutput(&lockedWriter{w: out}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: bctx, out: out}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancel()
		if t.Failed() {
			t.Logf("chromium's output:\n%s", out)
		}
	})
	if err := chromedp.Listen(bctx, b.event); err != nil {
		t.Fatalf("starting %s: %v\n%s", chromiumPath, err, out)
	}
	return b
}

// event keeps what the page's console would show in red: console.error and
// console.assert calls, uncaught exceptions, and the browser's own error
// entries (a failed load, a refused Content-Security-Policy, ...).
func (b *browser) event(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range e.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		msg = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg = "uncaught: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
	default:
		return
	}
	b.mu.Lock()
	b.errs = append(b.errs, msg)
	b.mu.Unlock()
}

// consoleErrors returns the errors seen so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// do runs actions and fails the test on an error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor evaluates expr (a JavaScript expression giving a string) until
// cond holds for its value, for up to 15 s (the page refreshes every 2 s
// and the overview's counts come from a store walk at most once a second in
// these tests), and returns the last value.
func (b *browser) waitFor(what, expr string, cond func(string) bool) string {
	b.t.Helper()
	var v string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		v = eval[string](b, expr)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("not within 15s: %s (last %q; console errors %q)", what, v, b.consoleErrors())
		}
	}
}
