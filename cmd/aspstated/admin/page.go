package admin

import (
	"embed"
	"net/http"
)

// The admin page (GET /): one HTML file, its script and its style sheet,
// embedded in the binary and served from this listener only. It reads the
// JSON API of docs/admin-api.md with fetch; nothing is loaded from anywhere
// else, and the Content-Security-Policy below says so to the browser.
//
//go:embed page/index.html page/app.js page/app.css page/favicon.svg
var pageFiles embed.FS

// pageCSP allows this origin's script, style, images and fetches only: no
// inline script or style, no eval, no plugins, no framing, no form posts.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// servePage adds the page's routes to mux. The files are static and hold no
// data, so they are served on every listener without the token: off
// loopback the page then asks for the token, which its script sends with
// every API call (a browser sends no Authorization header when it opens a
// page, so guarding the page itself would lock operators out).
func (s *Server) servePage(mux *http.ServeMux) {
	for pattern, f := range map[string]struct{ name, ctype string }{
		"GET /{$}":         {"page/index.html", "text/html; charset=utf-8"},
		"GET /app.js":      {"page/app.js", "text/javascript; charset=utf-8"},
		"GET /app.css":     {"page/app.css", "text/css; charset=utf-8"},
		"GET /favicon.svg": {"page/favicon.svg", "image/svg+xml"},
	} {
		body, err := pageFiles.ReadFile(f.name)
		if err != nil {
			panic("admin: page file missing from the build: " + f.name)
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", f.ctype)
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cache-Control", "no-cache")
			w.Write(body)
		})
	}
}
