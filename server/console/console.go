// Package console is garo-server's web console: a few static files embedded in the binary
// (go:embed), served under Prefix on the API's port. There is no build step and no
// third-party origin: index.html, a hand-written script (app.js) and a style sheet. The
// script signs in with an API token kept in the tab's sessionStorage (never in a URL or a
// cookie), and reads and writes only through the portal API under /api/v1 with that token
// as a bearer header, so that the token's scopes and owner prefixes decide what the
// console shows and may change; writes carry no ambient credential, so there is nothing
// for a cross-site request to ride on.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is where the console is served; Path without its trailing slash redirects here.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every file: scripts, styles and connections only from
// the server itself, no inline script or style, no frames, no form posts, no plugins, and
// Trusted Types with no policy so that no string can become markup or script (the script
// builds its DOM with createElement and textContent only).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

//go:embed static
var embedded embed.FS

// files is the static folder as the root of the console.
var files = func() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the folder is embedded above: cannot happen
	}
	return sub
}()

// Handler serves the console's files under Prefix, with the security headers on every
// answer, and redirects the bare path (Prefix without its slash) to Prefix.
func Handler() http.Handler {
	fileServer := http.StripPrefix(Prefix, http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		// The files change only with the binary: revalidate, never serve a stale script.
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		case r.URL.Path == strings.TrimSuffix(Prefix, "/"):
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		case !strings.HasPrefix(r.URL.Path, Prefix):
			http.NotFound(w, r)
		default:
			fileServer.ServeHTTP(w, r)
		}
	})
}
