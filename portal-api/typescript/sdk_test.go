// Package typescript_test runs the TypeScript SDK's checks from `go test`, so that CI's
// `make test` runs them: the node tests against a real garo-server started here, and
// Spectral's `spectral:oas` ruleset over openapi.yaml. Both use the npm packages pinned in
// package-lock.json, which .ci/run installs with `npm ci`; without node, npm or those
// packages the tests skip loudly, or fail when CI=true.
package typescript_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/serverproc"
)

// nodeReady returns the path of node after checking that npm and the pinned packages are
// there; it skips (fails under CI=true) otherwise, naming what did not run.
func nodeReady(t *testing.T, what string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = exec.LookPath("npm")
	}
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", ".package-lock.json"))
	}
	if err != nil {
		msg := "\n\n*** NO NODE TOOLCHAIN: " + what + " did NOT run (" + err.Error() + ").\n" +
			"*** Install node and npm, then `npm ci` in portal-api/typescript (see .ci/run).\n"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// npm runs `npm run <script>` in this folder with extra environment and returns its
// combined output; a failure fails the test with that output.
func npm(t *testing.T, script string, env ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "npm", "run", "--silent", script)
	// A NODE_TEST_CONTEXT inherited from a parent node test runner would make node --test
	// report to it instead of printing its summary.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NODE_TEST_CONTEXT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm run %s: %v\n%s", script, err, out)
	}
	return string(out)
}

// tapCount matches the summary lines of node's test runner ("# pass 27").
var tapCount = regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$`)

// TestSDK builds the SDK with tsc (which also checks test/types.test.ts: the generated
// types take the valid bodies and refuse the invalid ones, without casts) and runs its node
// tests against a real garo-server: the policy lifecycle, 412 on a stale If-Match, 400
// field errors, pagination, registration tokens, jobs and timelines, GitHub's rate-limit
// budgets (and their refusal to a token with owner prefixes), the examples that
// docs/portal.md quotes, and that src/schema.ts is what the pinned generator makes today.
func TestSDK(t *testing.T) {
	nodeReady(t, "the TypeScript SDK tests")
	s := serverproc.Start(t, serverproc.Build(t))
	out := npm(t, "test",
		"GARO_SERVER="+s.URL,
		"GARO_TOKEN="+s.AdminToken,
		"GARO_WEBHOOK_SECRET="+s.WebhookSecret,
	)
	counts := map[string]int{}
	for _, m := range tapCount.FindAllStringSubmatch(out, -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	t.Logf("node --test: %v", counts)
	// The suite has 19 tests today; fewer means files were not picked up.
	if counts["tests"] < 19 || counts["pass"] != counts["tests"] || counts["fail"] != 0 || counts["skipped"] != 0 {
		t.Fatalf("node --test counts %v\n%s", counts, out)
	}
}

// TestSpectral lints openapi.yaml with Spectral's `spectral:oas` ruleset and fails on any
// finding, hints included.
func TestSpectral(t *testing.T) {
	nodeReady(t, "the Spectral lint of openapi.yaml")
	out := npm(t, "lint:spec")
	if !strings.Contains(out, "No results with a severity of 'hint' or higher found!") {
		t.Fatalf("spectral:\n%s", out)
	}
}
