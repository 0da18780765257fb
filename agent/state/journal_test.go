package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/garo-dev/garo/agent/state"
)

func TestJournalSaveLoad(t *testing.T) {
	t.Parallel()
	j := state.Journal{Path: state.JournalPath(filepath.Join(t.TempDir(), "sub", "agent.json"))}
	if b, err := j.Load(); err != nil || b != nil {
		t.Fatalf("load of a missing journal: %q, %v; want nothing and no error", b, err)
	}
	for _, want := range []string{`{"version":1,"records":[{"Name":"a"}]}`, `{"version":1,"records":[]}`} {
		if err := j.Save([]byte(want)); err != nil {
			t.Fatal(err)
		}
		if b, err := j.Load(); err != nil || string(b) != want {
			t.Fatalf("load after save: %q, %v; want %q", b, err, want)
		}
	}
	if info, err := os.Stat(j.Path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v, %v; want 0600", info.Mode(), err)
	}
	if filepath.Base(j.Path) != "agent.json.runners" {
		t.Errorf("journal path %s, want next to the state file", j.Path)
	}
}
