package garoctl_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

const twoPolicies = `kind: Policy
repository: acme/web
name: linux-small
labels: [linux, small]
max_runners: 3
provider: docker
runner:
  image: runner:1
---
kind: Policy
repository: acme/web
name: linux-large
labels: [linux, large]
min_idle: 1
max_runners: 5
enabled: false
provider: docker
runner:
  image: runner:1
`

// TestPolicyCommands: create from a multi-document file, list (golden table), get -o
// yaml, edit through the editor, delete with --if-version.
func TestPolicyCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	out := c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	if out != "policy acme/web/linux-small created\npolicy acme/web/linux-large created\n" {
		t.Errorf("create said %q", out)
	}
	c.fails(garoctl.ExitServer, []string{"409"}, "policy", "create", "-f", c.write("p.yaml", twoPolicies))
	golden(t, "policy-list.txt", c.ok("policy", "list", "--repository", "acme/web"))
	if out := c.ok("policy", "list", "--enabled=false", "-o", "json"); !strings.Contains(out, `"name": "linux-large"`) ||
		strings.Contains(out, "linux-small") {
		t.Errorf("policy list --enabled=false -o json =\n%s", out)
	}

	y := c.ok("policy", "get", "acme/web/linux-small", "-o", "yaml")
	for _, want := range []string{"kind: Policy\n", "repository: acme/web\n", "name: linux-small\n", "max_runners: 3\n", "idle_grace: "} {
		if !strings.Contains(y, want) {
			t.Errorf("get -o yaml lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "version:") || strings.Contains(y, "created_at") {
		t.Errorf("get -o yaml holds server-side fields:\n%s", y)
	}

	c.editor = func(_ context.Context, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(strings.Replace(string(b), "max_runners: 3", "max_runners: 7", 1)), 0o600)
	}
	if out := c.ok("policy", "edit", "acme/web", "linux-small"); out != "policy acme/web/linux-small edited (version 2)\n" {
		t.Errorf("edit said %q", out)
	}
	p, err := c.h.Portal.GetPolicy(t.Context(), "acme/web", "linux-small")
	if err != nil || p.MaxRunners != 7 {
		t.Fatalf("after edit: %+v, %v", p, err)
	}
	c.editor = func(context.Context, string) error { return nil }
	if out := c.ok("policy", "edit", "acme/web", "linux-small"); !strings.Contains(out, "no changes") {
		t.Errorf("edit without a change said %q", out)
	}

	c.fails(garoctl.ExitServer, []string{"412", "acme/web/linux-small"}, "policy", "delete", "acme/web", "linux-small", "--if-version", "1")
	if out := c.ok("policy", "delete", "acme/web", "linux-small", "--if-version", "2"); out != "policy acme/web/linux-small deleted\n" {
		t.Errorf("delete said %q", out)
	}
	c.fails(garoctl.ExitServer, []string{"404"}, "policy", "get", "acme/web", "linux-small")
	c.fails(garoctl.ExitUsage, []string{"OWNER/REPO NAME"}, "policy", "get", "acme-web")
}

// TestPolicyEditConflict: when someone changes the policy while the editor is open, the
// server refuses the edit (If-Match, 412) and garoctl names who changed it, from the audit
// trail.
func TestPolicyEditConflict(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	other, err := c.h.Portal.CreateToken(t.Context(), portalapi.TokenRequest{Name: "alice-laptop", Scopes: []string{portalapi.ScopePoliciesWrite}})
	if err != nil {
		t.Fatal(err)
	}
	c.editor = func(ctx context.Context, path string) error {
		// alice raises min_idle while our editor is open.
		ac := newClient(t, c.h.ServerURL, other.Secret)
		if _, err := ac.PatchPolicy(ctx, "acme/web", "linux-small", map[string]any{"min_idle": 1}, ""); err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(strings.Replace(string(b), "max_runners: 3", "max_runners: 4", 1)), 0o600)
	}
	c.fails(garoctl.ExitServer, []string{"changed by someone else since it was read (version 1)", "last policy.patch by token:alice-laptop at ", "412"},
		"policy", "edit", "acme/web/linux-small")
	p, err := c.h.Portal.GetPolicy(t.Context(), "acme/web", "linux-small")
	if err != nil || p.MaxRunners != 3 || p.MinIdle != 1 {
		t.Fatalf("after the refused edit: %+v, %v (want alice's change only)", p, err)
	}
}
