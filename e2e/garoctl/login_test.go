package garoctl_test

import (
	"os"
	"strings"
	"testing"

	"github.com/garo-dev/garo/portal-api/garoctl"
)

// TestLoginAndContexts: login checks the token before saving it in a 0600 file, the
// saved context then serves without GARO_TOKEN, and context list/use/delete manage it.
func TestLoginAndContexts(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	server, token := c.env["GARO_SERVER"], c.env["GARO_TOKEN"]
	delete(c.env, "GARO_SERVER")
	delete(c.env, "GARO_TOKEN")
	tokenFile := c.write("admin.token", token+"\n")

	bad := c.write("bad.token", "garo_"+strings.Repeat("0", 48))
	c.fails(garoctl.ExitServer, []string{"401"}, "login", "--server", server, "--token-file", bad, "--name", "bad")
	if _, err := os.Stat(c.env["GARO_CONFIG"]); !os.IsNotExist(err) {
		t.Fatalf("a refused login wrote the configuration file (%v)", err)
	}

	out := c.ok("login", "--server", server, "--token-file", tokenFile, "--name", "lab")
	if !strings.Contains(out, `context "lab" saved`) {
		t.Errorf("login said %q", out)
	}
	fi, err := os.Stat(c.env["GARO_CONFIG"])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("configuration file mode = %v (%v), want 0600", fi, err)
	}
	if out := c.ok("whoami"); !strings.Contains(out, "admin") {
		t.Errorf("whoami through the saved context = %q", out)
	}
	c.env["GARO_TOKEN"] = token
	c.ok("login", "--server", server, "--name", "second")
	delete(c.env, "GARO_TOKEN")

	out = c.ok("context", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], " ") || !strings.Contains(lines[1], "lab") ||
		!strings.HasPrefix(lines[2], "*") || !strings.Contains(lines[2], "second") {
		t.Errorf("context list =\n%s", out)
	}
	c.ok("context", "use", "lab")
	if out := c.ok("context", "list", "-o", "json"); !strings.Contains(out, `"current": true,
    "name": "lab"`) {
		t.Errorf("context list -o json after use lab =\n%s", out)
	}
	c.fails(garoctl.ExitUsage, []string{`no context "nope"`}, "context", "use", "nope")
	c.ok("context", "delete", "lab")
	c.fails(garoctl.ExitUsage, []string{"no API token"}, "whoami")
	if out := c.ok("--context", "second", "whoami"); !strings.Contains(out, "admin") {
		t.Errorf("whoami --context second = %q", out)
	}
	b, err := os.ReadFile(c.env["GARO_CONFIG"])
	if err != nil || strings.Contains(string(b), "lab") || !strings.Contains(string(b), token) {
		t.Errorf("configuration after delete:\n%s (%v)", b, err)
	}
}

// TestExitCodes: 2 with the usage for argument errors, 2 without it for configuration
// errors, 1 with the server's message when the server says no.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.fails(garoctl.ExitUsage, []string{"unknown command", "Usage:"}, "frobnicate")
	if r.out != "" {
		t.Errorf("usage error wrote to stdout: %q", r.out)
	}
	c.fails(garoctl.ExitUsage, []string{"accepts 1 arg", "Usage:\n  garoctl agent get AGENT_ID"}, "agent", "get")
	c.fails(garoctl.ExitUsage, []string{"unknown flag: --bogus"}, "policy", "list", "--bogus")
	c.fails(garoctl.ExitUsage, []string{"-o must be table, wide, json or yaml"}, "group", "list", "-o", "xml")
	r = c.fails(garoctl.ExitServer, []string{"404", "agent group"}, "group", "get", "nope")
	if strings.Contains(r.stderr, "Usage:") {
		t.Errorf("a server error printed the usage:\n%s", r.stderr)
	}
	c.env["GARO_TOKEN"] = ""
	r = c.fails(garoctl.ExitUsage, []string{"no API token"}, "group", "list")
	if strings.Contains(r.stderr, "Usage:") {
		t.Errorf("a configuration error printed the usage:\n%s", r.stderr)
	}
}
