package garoctl

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDocsUpToDate fails when docs/cli/ is not what the command tree generates: run
// make docs (go generate ./portal-api/garoctl) and commit the result.
func TestDocsUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateDocs(dir); err != nil {
		t.Fatal(err)
	}
	const checkedIn = "../../docs/cli"
	want := pages(t, dir)
	have := pages(t, checkedIn)
	if len(want) < 20 {
		t.Fatalf("only %d generated pages", len(want))
	}
	for name, w := range want {
		h, ok := have[name]
		switch {
		case !ok:
			t.Errorf("docs/cli/%s is missing; run make docs", name)
		case h != w:
			t.Errorf("docs/cli/%s is stale; run make docs", name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/cli/%s documents a command that no longer exists; run make docs", name)
		}
	}
}

func pages(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "garoctl*.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = string(b)
	}
	return m
}
