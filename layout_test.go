package garo_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/garo-dev/garo/"

// TestImportBoundaries holds the layout rule of CONVENTIONS.md: the server never imports
// the agent, the agent never imports the server, and shared/ and portal-api/ import
// neither.
func TestImportBoundaries(t *testing.T) {
	for _, tc := range []struct {
		pkgs      string
		forbidden []string
	}{
		{"./server/...", []string{module + "agent"}},
		{"./agent/...", []string{module + "server"}},
		{"./shared/...", []string{module + "server", module + "agent", module + "portal-api"}},
		{"./portal-api/...", []string{module + "server", module + "agent"}},
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
