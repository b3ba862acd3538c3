package admin

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The page's files are served with their types and a strict
// Content-Security-Policy, and only at their own paths.
func TestPageIsServedWithAStrictPolicy(t *testing.T) {
	g := start(t, newMem(t), "memory", func(o *Options) { o.Listen = "127.0.0.1:0" })
	for path, ctype := range map[string]string{
		"/":            "text/html; charset=utf-8",
		"/app.js":      "text/javascript; charset=utf-8",
		"/app.css":     "text/css; charset=utf-8",
		"/favicon.svg": "image/svg+xml",
	} {
		rec := httptest.NewRecorder()
		g.adm.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
		h := rec.Header()
		if got := h.Get("Content-Type"); got != ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, ctype)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("GET %s: Content-Security-Policy %q allows something unsafe", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", path)
		}
	}
	for _, path := range []string{"/index.html", "/page/app.js", "/nothing"} {
		if code, _ := g.get(path); code != 404 {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}

// The page's files are served on every listener (they hold no data); the
// overview the page reads still needs the token off loopback.
func TestPageAccess(t *testing.T) {
	tok := tokenFile(t, testToken)
	for _, c := range []struct {
		listen, file, auth string
		want               int
	}{
		{"127.0.0.1:0", tok, "", 200},
		{"127.0.0.1:0", "", "", 200},
		// Static files without data: on every listener, whatever is sent;
		// the API calls the page makes are what the token guards.
		{"127.0.0.1:0", tok, "Bearer wrong", 200},
		{"0.0.0.0:0", tok, "", 200},
		{"0.0.0.0:0", tok, "Bearer " + testToken, 200},
		{"0.0.0.0:0", "", "", 200},
	} {
		g := start(t, newMem(t), "memory", func(o *Options) { o.Listen, o.TokenFile = c.listen, c.file })
		for _, path := range []string{"/", "/app.js", "/app.css", "/favicon.svg"} {
			req := httptest.NewRequest("GET", path, nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			rec := httptest.NewRecorder()
			g.adm.Handler().ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("%+v: GET %s: %d, want %d", c, path, rec.Code, c.want)
			}
		}
		if c.listen == "0.0.0.0:0" && c.auth == "" {
			rec := httptest.NewRecorder()
			g.adm.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/overview", nil))
			if rec.Code != 401 && rec.Code != 403 {
				t.Errorf("%+v: the overview without a token off loopback answered %d", c, rec.Code)
			}
		}
	}
}

// What the policy relies on, and what keeps session data from being run as
// markup: no inline script or style in the HTML; the script writes text
// only, never HTML, and keeps the token out of localStorage.
func TestPageSourceRules(t *testing.T) {
	html, err := pageFiles.ReadFile("page/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAll(html, -1) {
		if !strings.Contains(string(m), `src="/app.js"`) {
			t.Errorf("index.html: inline or foreign script %s", m)
		}
	}
	if regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|https?://`).Match(html) {
		t.Errorf("index.html has inline style, an inline handler or an absolute URL")
	}
	js, err := pageFiles.ReadFile("page/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "http://", "https://"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
