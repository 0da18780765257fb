package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/garo-dev/garo/server/console"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, path, nil))
	return rec.Result()
}

// TestHandler: the files are served under /ui/ with the security headers, /ui redirects,
// anything else is refused.
func TestHandler(t *testing.T) {
	t.Parallel()
	h := console.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{"GET", "/ui/", 200, "text/html; charset=utf-8", `<script type="module" src="app.js"></script>`},
		{"GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", `const TOKEN_KEY = "garo.token";`},
		{"GET", "/ui/app.css", 200, "text/css; charset=utf-8", ":root"},
		{"HEAD", "/ui/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/ui", 301, "", ""},
		{"GET", "/ui/nothing.js", 404, "", ""},
		{"POST", "/ui/", 405, "", ""},
	} {
		resp := get(t, h, tc.method, tc.path)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", tc.method, tc.path, resp.Header.Get("Content-Type"), tc.contentType)
		}
		if !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s: body lacks %q", tc.method, tc.path, tc.body)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
			t.Errorf("%s %s: CSP %q", tc.method, tc.path, got)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if resp.Header.Get(k) != v {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, k, resp.Header.Get(k), v)
			}
		}
		if tc.status == 301 && resp.Header.Get("Location") != "/ui/" {
			t.Errorf("/ui redirects to %q", resp.Header.Get("Location"))
		}
	}
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "require-trusted-types-for 'script'", "frame-ancestors 'none'"} {
		if !strings.Contains(console.ContentSecurityPolicy, d) {
			t.Errorf("the CSP lacks %q", d)
		}
	}
}

// TestFilesStayInTheRules reads the embedded sources: no markup from strings, no eval, no
// inline script or style in the page, and no origin but the server's own (the only URL
// is the SVG namespace, which is a name, not a fetch).
func TestFilesStayInTheRules(t *testing.T) {
	t.Parallel()
	dir := "static"
	forbidden := map[string]*regexp.Regexp{
		"markup from a string": regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write`),
		"eval":                 regexp.MustCompile(`\beval\(|new Function\(|setTimeout\(\s*["'\x60]`),
		"an inline handler":    regexp.MustCompile(`\son[a-z]+=`),
		"an inline style":      regexp.MustCompile(`<style|\sstyle=`),
		"an inline script":     regexp.MustCompile(`<script>`),
	}
	url := regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	files := 0
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		src := string(b)
		for what, re := range forbidden {
			if m := re.FindString(src); m != "" {
				t.Errorf("%s has %s: %q", p, what, m)
			}
		}
		for _, m := range url.FindAllString(src, -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s names another origin: %q", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 {
		t.Errorf("checked %d files, want index.html, app.js, app.css", files)
	}
}
