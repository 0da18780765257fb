// Package garoctl_test runs garoctl's real command tree (garoctl.Execute) against the in-process
// hub. It lives under e2e/, not beside portal-api/garoctl, because it links garo-server and
// portal-api/ may depend on neither side (layout_test.go), tests included.
package garoctl_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/stack/hub"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

// fixedNow is the clock of every run: ages and --since durations count from it.
var fixedNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// cli runs the real garoctl command tree (garoctl.Execute, what cmd/garoctl calls) against
// one in-process server, with its own configuration file.
type cli struct {
	t      *testing.T
	h      *hub.Hub
	env    map[string]string
	dir    string
	editor func(ctx context.Context, path string) error
	now    func() time.Time
	// after is the timer between --watch and top polls (nil: time.After).
	after func(d time.Duration) <-chan time.Time
	// beforeApply runs between apply's read and its first write.
	beforeApply func(ctx context.Context) error
}

// result is one run: its exit code and streams.
type result struct {
	code        int
	out, stderr string
}

// newCLI starts a server (SQLite, with the GitHub simulator holding repos) and a garoctl
// environment that names it through GARO_SERVER and GARO_TOKEN.
func newCLI(t *testing.T, repos ...string) *cli {
	t.Helper()
	return newCLIWith(t, hub.Options{Repositories: repos})
}

// newCLIWith is newCLI with the server shaped by o (its Dir is the test's).
func newCLIWith(t *testing.T, o hub.Options) *cli {
	t.Helper()
	dir := t.TempDir()
	o.Dir = t.TempDir()
	h, err := hub.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return &cli{t: t, h: h, dir: dir, now: func() time.Time { return fixedNow }, env: map[string]string{
		"GARO_SERVER": h.ServerURL,
		"GARO_TOKEN":  h.AdminToken,
		"GARO_CONFIG": filepath.Join(dir, "config", "garoctl.yaml"),
	}}
}

// run runs garoctl with args; stdin is the input of "-f -".
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	return c.runCtx(c.t.Context(), stdin, args...)
}

// runCtx is run under ctx (a --watch runs until ctx ends).
func (c *cli) runCtx(ctx context.Context, stdin string, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := garoctl.Execute(ctx, args, func(k string) (string, bool) { v, ok := c.env[k]; return v, ok },
		garoctl.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Editor: c.editor, Now: c.now, After: c.after, BeforeApply: c.beforeApply})
	return result{code: code, out: out.String(), stderr: errb.String()}
}

// ok runs garoctl and fails the test unless it exits 0; it returns standard output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != 0 {
		c.t.Fatalf("garoctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.stderr)
	}
	return r.out
}

// fails runs garoctl and fails the test unless it exits with code and its standard error
// holds every part of want.
func (c *cli) fails(code int, want []string, args ...string) result {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != code {
		c.t.Fatalf("garoctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.out, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			c.t.Errorf("garoctl %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
	return r
}

// write writes a file under the test's directory and returns its path.
func (c *cli) write(name, content string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// newClient is a portal client of another token, for a second user's changes.
func newClient(t *testing.T, server, token string) *client.Client {
	t.Helper()
	c, err := client.New(server, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
