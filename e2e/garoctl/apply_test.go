package garoctl_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/portal-api/garoctl"
)

// copyTree copies testdata/src into a fresh directory of the test and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(filepath.Join("testdata", src), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(filepath.Join("testdata", src), p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// policyKeys lists repository/name of every policy the server holds.
func policyKeys(t *testing.T, c *cli) []string {
	t.Helper()
	var keys []string
	for p, err := range c.h.Portal.AllPolicies(t.Context(), client.ListPoliciesOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, p.Repository+"/"+p.Name)
	}
	return keys
}

const appliedDir = "policy acme/team-a-api/arm %[1]s\npolicy acme/team-a-web/linux-small %[1]s\npolicy acme/team-a-web/linux-large %[1]s\n"

func lines(action string) string { return strings.ReplaceAll(appliedDir, "%[1]s", action) }

// TestApplyDiffDirectory: diff, dry run, apply and a second apply of a directory with a
// nested directory and a multi-document file; a change shows as a unified diff and is
// applied as "configured".
func TestApplyDiffDirectory(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/team-a-web", "acme/team-a-api")
	dir := copyTree(t, "apply")

	r := c.run("", "diff", "-f", dir)
	if r.code != garoctl.ExitDiffChanges || !strings.Contains(r.out, "--- /dev/null\n+++ apply/acme/team-a-web/linux-small\n@@ -0,0 +1,") ||
		!strings.Contains(r.out, "+max_runners: 3\n") {
		t.Fatalf("diff against an empty server: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	if out := c.ok("apply", "-f", dir, "--dry-run"); out != lines("created (dry run)") {
		t.Errorf("apply --dry-run said:\n%s", out)
	}
	if keys := policyKeys(t, c); len(keys) != 0 {
		t.Fatalf("--dry-run wrote %v", keys)
	}
	if out := c.ok("apply", "-f", dir); out != lines("created") {
		t.Errorf("apply said:\n%s", out)
	}
	p, err := c.h.Portal.GetPolicy(t.Context(), "acme/team-a-api", "arm")
	if err != nil || p.Enabled || p.MaxRunners != 2 || p.Runner.Image != "runner:arm" {
		t.Fatalf("applied policy: %+v, %v", p, err)
	}

	// Idempotent: nothing changes, and diff agrees.
	if out := c.ok("apply", "-f", dir); out != lines("unchanged") {
		t.Errorf("second apply said:\n%s", out)
	}
	if r := c.run("", "diff", "-f", dir); r.code != 0 || r.out != "" {
		t.Errorf("diff after apply: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	p2, err := c.h.Portal.GetPolicy(t.Context(), "acme/team-a-api", "arm")
	if err != nil || p2.Version != p.Version {
		t.Errorf("second apply moved the version %d -> %+v, %v", p.Version, p2, err)
	}

	// A change in one file: diff shows it, apply replaces only that policy.
	web := filepath.Join(dir, "team-a", "web.yaml")
	b, _ := os.ReadFile(web)
	if err := os.WriteFile(web, []byte(strings.Replace(string(b), "max_runners: 3", "max_runners: 4", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.run("", "diff", "-f", dir)
	if r.code != garoctl.ExitDiffChanges || !strings.Contains(r.out, "--- server/acme/team-a-web/linux-small\n+++ apply/acme/team-a-web/linux-small\n@@ ") ||
		!strings.Contains(r.out, "\n-max_runners: 3\n+max_runners: 4\n") || strings.Contains(r.out, "linux-large") {
		t.Errorf("diff of a change: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	want := "policy acme/team-a-api/arm unchanged\npolicy acme/team-a-web/linux-small configured\npolicy acme/team-a-web/linux-large unchanged\n"
	if out := c.ok("apply", "-f", dir); out != want {
		t.Errorf("apply of a change said:\n%s", out)
	}
	if p, err := c.h.Portal.GetPolicy(t.Context(), "acme/team-a-web", "linux-small"); err != nil || p.MaxRunners != 4 || p.Version != 2 {
		t.Errorf("after the change: %+v, %v", p, err)
	}
}

// TestApplyRoundTrip: what policy get -o yaml prints applies back as "unchanged", from a
// file and from standard input.
func TestApplyRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	y := c.ok("policy", "get", "acme/web/linux-large", "-o", "yaml")
	if r := c.run(y, "apply", "-f", "-"); r.code != 0 || r.out != "policy acme/web/linux-large unchanged\n" {
		t.Errorf("apply -f - of get -o yaml: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	y2 := c.ok("get", "policy", "acme/web/linux-small", "-o", "yaml")
	if y2 != c.ok("policy", "get", "acme/web", "linux-small", "-o", "yaml") {
		t.Errorf("get policy and policy get differ:\n%s", y2)
	}
	both := c.write("both.yaml", y+"---\n"+y2)
	if out := c.ok("apply", "-f", both); out != "policy acme/web/linux-large unchanged\npolicy acme/web/linux-small unchanged\n" {
		t.Errorf("apply of two get -o yaml documents said:\n%s", out)
	}
	if r := c.run("", "diff", "-f", both); r.code != 0 {
		t.Errorf("diff of get -o yaml: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
}

// TestApplyPrune: --prune deletes the policies of the selector's scope that the files no
// longer hold, and only those; --dry-run only says so; a selector is required.
func TestApplyPrune(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/team-a-web", "acme/team-a-api", "acme/team-b")
	dir := copyTree(t, "apply")
	c.ok("apply", "-f", dir)
	for _, repo := range []string{"acme/team-a-web", "acme/team-b"} {
		if _, err := c.h.Portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{Name: "old", Labels: []string{"old"},
			MaxRunners: 1, Provider: "docker", Runner: portalapi.RunnerSpec{Image: "runner:0"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "team-a", "nested")); err != nil {
		t.Fatal(err)
	}

	c.fails(garoctl.ExitUsage, []string{"--prune needs a selector"}, "apply", "-f", dir, "--prune")
	c.fails(garoctl.ExitUsage, []string{"outside the --prune selector"}, "apply", "-f", dir, "--prune", "--owner-prefix", "acme/team-b")
	c.fails(garoctl.ExitUsage, []string{"key must be one of"}, "apply", "-f", dir, "--prune", "--selector", "owner=acme")
	c.fails(garoctl.ExitUsage, []string{"they need --prune"}, "apply", "-f", dir, "--owner-prefix", "acme/team-a")

	r := c.run("", "diff", "-f", dir, "--prune", "--owner-prefix", "acme/team-a")
	if r.code != garoctl.ExitDiffChanges || !strings.Contains(r.out, "--- server/acme/team-a-api/arm\n+++ /dev/null\n") ||
		!strings.Contains(r.out, "+++ /dev/null\n@@ -1,") || strings.Contains(r.out, "team-b") {
		t.Errorf("diff --prune: exit %d\n%s%s", r.code, r.out, r.stderr)
	}
	prunes := "policy acme/team-a-web/linux-small unchanged\npolicy acme/team-a-web/linux-large unchanged\n" +
		"policy acme/team-a-api/arm pruned%[1]s\npolicy acme/team-a-web/old pruned%[1]s\n"
	if out := c.ok("apply", "-f", dir, "--prune", "--owner-prefix", "acme/team-a", "--dry-run"); !sameLines(out, strings.ReplaceAll(prunes, "%[1]s", " (dry run)")) {
		t.Errorf("apply --prune --dry-run said:\n%s", out)
	}
	if keys := policyKeys(t, c); len(keys) != 5 {
		t.Fatalf("--dry-run pruned: %v", keys)
	}
	if out := c.ok("apply", "-f", dir, "--prune", "--selector", "repository=acme/team-a-*"); !sameLines(out, strings.ReplaceAll(prunes, "%[1]s", "")) {
		t.Errorf("apply --prune said:\n%s", out)
	}
	keys := strings.Join(policyKeys(t, c), " ")
	for _, k := range []string{"acme/team-a-web/linux-small", "acme/team-a-web/linux-large", "acme/team-b/old"} {
		if !strings.Contains(keys, k) {
			t.Errorf("after prune %s is gone: %s", k, keys)
		}
	}
	if strings.Contains(keys, "team-a-api") || strings.Contains(keys, "team-a-web/old") {
		t.Errorf("after prune: %s", keys)
	}
	if out := c.ok("apply", "-f", dir, "--prune", "--owner-prefix", "acme/team-a"); strings.Contains(out, "pruned") {
		t.Errorf("a second prune said:\n%s", out)
	}
}

// sameLines compares two outputs as sets of lines (prunes follow the server's list order).
func sameLines(got, want string) bool {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return false
	}
	seen := map[string]int{}
	for _, l := range g {
		seen[l]++
	}
	for _, l := range w {
		seen[l]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestApplyBadInput: a bad document anywhere is reported with its file and document index,
// and nothing is applied, not even the good documents before it; diff exits 2 on it and 3
// when the server cannot be reached.
func TestApplyBadInput(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/team-a-web")
	dir := copyTree(t, "apply-bad")
	c.fails(garoctl.ExitUsage, []string{filepath.Join(dir, "mixed.yaml") + " (document 2)", "max_runnerz"}, "apply", "-f", dir)
	if keys := policyKeys(t, c); len(keys) != 0 {
		t.Errorf("a bad document half-applied the directory: %v", keys)
	}
	c.fails(garoctl.ExitUsage, []string{"(document 2)"}, "diff", "-f", dir)
	c.fails(garoctl.ExitUsage, []string{"document 1", "kind must be"}, "apply", "-f", c.write("k.yaml", "kind: Pollicy\nrepository: a/b\nname: x\n"))
	c.fails(garoctl.ExitUsage, []string{"document 3", "not YAML"}, "apply", "-f", c.write("y.yaml", twoPolicies+"---\n: : [\n"))
	c.fails(garoctl.ExitUsage, []string{"named twice"}, "apply", "-f", c.write("d.yaml", twoPolicies), "-f", c.write("e.yaml", twoPolicies))
	c.fails(garoctl.ExitUsage, []string{"no policy document"}, "apply", "-f", c.write("empty.yaml", "---\n"))

	good := filepath.Join(dir, "good.yaml")
	c.env["GARO_SERVER"] = "http://127.0.0.1:1"
	c.fails(garoctl.ExitDiffFailed, nil, "diff", "-f", good)
}

// TestApplyConflict: a policy changed by someone else between apply's read and its write
// is refused (If-Match, 412) with who changed it; nothing of theirs is overwritten.
func TestApplyConflict(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "acme/web")
	c.ok("policy", "create", "-f", c.write("p.yaml", twoPolicies))
	other, err := c.h.Portal.CreateToken(t.Context(), portalapi.TokenRequest{Name: "bob-ci", Scopes: []string{portalapi.ScopePoliciesWrite}})
	if err != nil {
		t.Fatal(err)
	}
	c.beforeApply = func(ctx context.Context) error {
		_, err := newClient(t, c.h.ServerURL, other.Secret).PatchPolicy(ctx, "acme/web", "linux-small", map[string]any{"min_idle": 2}, "")
		return err
	}
	changed := strings.Replace(twoPolicies, "max_runners: 3", "max_runners: 4", 1)
	c.fails(garoctl.ExitServer, []string{"policy acme/web/linux-small", "changed by someone else since it was read (version 1)", "by token:bob-ci", "412"},
		"apply", "-f", c.write("p.yaml", changed))
	p, err := c.h.Portal.GetPolicy(t.Context(), "acme/web", "linux-small")
	if err != nil || p.MaxRunners != 3 || p.MinIdle != 2 {
		t.Fatalf("after the refused apply: %+v, %v (want bob's change only)", p, err)
	}
	c.beforeApply = nil
	if out := c.ok("apply", "-f", c.write("p.yaml", changed)); !strings.Contains(out, "linux-small configured") {
		t.Errorf("apply after reading again said:\n%s", out)
	}
	if p, err := c.h.Portal.GetPolicy(t.Context(), "acme/web", "linux-small"); err != nil || p.MaxRunners != 4 || p.MinIdle != 2 {
		t.Errorf("the second apply kept bob's min_idle? %+v, %v", p, err)
	}
}
