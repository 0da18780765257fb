package state_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/state"
)

func TestSaveLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "agent.json")
	if _, err := state.Load(path); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("load of a missing file: %v", err)
	}
	id := state.Identity{AgentID: "a1", Credential: "SECRET", ServerURL: "https://garo.example.com/", Group: "g",
		RegisteredAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := state.Save(path, id); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", dir.Mode())
	}
	got, err := state.Load(path)
	if err != nil || got != id {
		t.Fatalf("load = %+v, %v", got, err)
	}
	// Overwrite atomically: no temporary files stay behind.
	id.Credential = "SECRET2"
	if err := state.Save(path, id); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %v", entries)
	}
	if got, _ := state.Load(path); got.Credential != "SECRET2" {
		t.Fatal("second save lost")
	}
	for _, s := range []string{got.String(), fmt.Sprintf("%v %+v %#v", got, got, got)} {
		if strings.Contains(s, "SECRET") {
			t.Errorf("formatting shows the credential: %s", s)
		}
	}
	withPassword := state.Identity{AgentID: "a1", Credential: "SECRET", ServerURL: "https://agent:s3cret@garo.example.com"}
	for _, s := range []string{withPassword.String(), fmt.Sprintf("%v %+v %#v", withPassword, withPassword, withPassword)} {
		if strings.Contains(s, "s3cret") || !strings.Contains(s, "agent:redacted@garo.example.com") {
			t.Errorf("formatting shows the server URL's password: %s", s)
		}
	}
	if !got.SameServer("HTTPS://GARO.example.com") || got.SameServer("https://other.example.com") {
		t.Error("SameServer")
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"readable by others": {`{"agent_id":"a","credential":"c","server_url":"http://x"}`, 0o644, "chmod 600"},
		"not json":           {`{`, 0o600, "not valid JSON"},
		"incomplete":         {`{"agent_id":"a"}`, 0o600, "must all be set"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(tc.body), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := state.Load(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
