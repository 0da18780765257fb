package garo_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/garo-dev/garo/"

// TestImportBoundaries holds the layout rule of CONVENTIONS.md: the server never imports
// the agent, the agent never imports the server, and shared/ and portal-api/ import
// neither. The test kit's root package imports neither side either, so that the tests of
// both may use it (its subpackages testdb and stack are the server-side ones).
func TestImportBoundaries(t *testing.T) {
	for _, tc := range []struct {
		pkgs      string
		forbidden []string
	}{
		{"./server/...", []string{module + "agent"}},
		{"./agent/...", []string{module + "server"}},
		{"./shared/...", []string{module + "server", module + "agent", module + "portal-api"}},
		{"./portal-api/...", []string{module + "server", module + "agent"}},
		{"./internal/testkit", []string{module + "server", module + "agent", module + "githubsim"}},
	} {
		out, err := exec.Command("go", "list", "-deps", "-test", tc.pkgs).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tc.pkgs, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list %s listed only %v", tc.pkgs, deps)
		}
		for _, dep := range deps {
			for _, f := range tc.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", tc.pkgs, dep)
				}
			}
		}
	}
}

// binaries are the production binaries: what ships in the images and releases.
var binaries = []string{"./server/cmd/garo-server", "./agent/cmd/garo-agent", "./portal-api/cmd/garoctl"}

// testOnly are the trees no production binary may link: the GitHub simulator (a product
// for tests and demos), the test kit, the demo and the load harness.
var testOnly = []string{module + "githubsim", module + "internal/testkit", module + "internal/demo", module + "internal/load"}

// goList runs go list with args and returns the listed import paths.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out))
}

// within returns the paths of deps that are one of trees or below one.
func within(deps, trees []string) []string {
	var hits []string
	for _, dep := range deps {
		for _, tree := range trees {
			if dep == tree || strings.HasPrefix(dep, tree+"/") {
				hits = append(hits, dep)
			}
		}
	}
	return hits
}

// notUsedByBoth returns the packages of shared that are missing from serverDeps or
// agentDeps, each with the side that does not import it.
func notUsedByBoth(shared, serverDeps, agentDeps []string) []string {
	var bad []string
	for _, p := range shared {
		if !slices.Contains(serverDeps, p) {
			bad = append(bad, p+" (not imported by the server)")
		}
		if !slices.Contains(agentDeps, p) {
			bad = append(bad, p+" (not imported by the agent)")
		}
	}
	return bad
}

// TestProductionBinariesLinkNoTestSupport: the dependencies of garo-server, garo-agent and
// garoctl contain neither the simulator nor the test kit nor the demo. The same check on
// the demo's own binary, which links all three, proves that it would catch one.
func TestProductionBinariesLinkNoTestSupport(t *testing.T) {
	for _, bin := range binaries {
		deps := goList(t, "-deps", bin)
		if !slices.Contains(deps, module+"shared/version") {
			t.Fatalf("go list -deps %s lists no shared/version: %v", bin, deps)
		}
		for _, dep := range within(deps, testOnly) {
			t.Errorf("%s links %s, which is test support", bin, dep)
		}
	}
	demo := within(goList(t, "-deps", "./internal/demo/cmd/garo-demo"), testOnly)
	for _, want := range []string{module + "githubsim", module + "internal/testkit/stack", module + "internal/demo"} {
		if !slices.Contains(demo, want) {
			t.Errorf("the check does not see %s in garo-demo's dependencies: %v", want, demo)
		}
	}
}

// TestSharedIsImportedByBoth: shared/ holds only what both binaries import. Every
// shared/... package is a dependency of the non-test code of both the server
// (./server/...) and the agent (./agent/...); what only one side needs lives on that
// side. The same check on a server-only package (server/store) proves it would catch one.
func TestSharedIsImportedByBoth(t *testing.T) {
	shared := goList(t, "./shared/...")
	if len(shared) < 3 {
		t.Fatalf("go list ./shared/... listed only %v", shared)
	}
	serverDeps, agentDeps := goList(t, "-deps", "./server/..."), goList(t, "-deps", "./agent/...")
	for _, bad := range notUsedByBoth(shared, serverDeps, agentDeps) {
		t.Errorf("shared package %s: move it to the side that uses it", bad)
	}
	if got := notUsedByBoth([]string{module + "server/store"}, serverDeps, agentDeps); !slices.Equal(got, []string{module + "server/store (not imported by the agent)"}) {
		t.Errorf("the check on server/store found %v", got)
	}
}
