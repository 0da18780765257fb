package jobs

import (
	"strings"
	"testing"

	"github.com/garo-dev/garo/server/store"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	pol := func(name string, enabled bool, labels ...string) store.Policy {
		return store.Policy{ID: name, Name: name, Enabled: enabled, Labels: labels}
	}
	policies := []store.Policy{
		pol("linux-small", true, "linux", "small"),
		pol("linux", true, "linux"),
		pol("gpu", true, "linux", "gpu"),
		pol("arm", true, "arm64", "Linux"),
		pol("win", true, "windows"),
		pol("off", false, "special"),
	}
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"self-hosted"}, "linux"},
		{[]string{"self-hosted", "linux"}, "linux"},
		{[]string{"SELF-HOSTED", "Linux", "X64"}, "linux"},
		{[]string{"self-hosted", "linux", "gpu"}, "gpu"},
		{[]string{"small"}, "linux-small"},
		{[]string{"self-hosted", "arm64"}, "arm"},
		{[]string{"self-hosted", "linux", "arm64"}, "arm"},
		{[]string{"windows", "x64"}, "win"},
		{[]string{"self-hosted", "macos"}, ""},
		{[]string{"gpu", "small"}, ""},
		{[]string{"special"}, ""},
		{[]string{"ubuntu-latest"}, ""},
		{[]string{"macos-14-arm64"}, ""},
	} {
		p, reason := Match(tc.labels, policies)
		got := ""
		if p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("Match(%v) = %q (%s), want %q", tc.labels, got, reason, tc.want)
		}
		if p == nil && reason == "" {
			t.Errorf("Match(%v): no policy and no reason", tc.labels)
		}
	}
	if p, reason := Match([]string{}, policies); p != nil || !strings.HasPrefix(reason, "the job asks for no labels") {
		t.Errorf("no labels = %v, %q", p, reason)
	}
	if p, reason := Match([]string{"self-hosted"}, nil); p != nil || reason != "the repository has no enabled runner policy" {
		t.Errorf("no policies = %v, %q", p, reason)
	}
	// A tie goes to the name that sorts first.
	tie := []store.Policy{pol("b", true, "linux"), pol("a", true, "linux")}
	if p, _ := Match([]string{"linux"}, tie); p == nil || p.Name != "a" {
		t.Errorf("tie = %v, want a", p)
	}
}

// TestMatchPrefersTheDefaultPlatform: [self-hosted] goes to the plain Linux policy, not to
// an arm64 or Windows one whose name sorts first.
func TestMatchPrefersTheDefaultPlatform(t *testing.T) {
	t.Parallel()
	policies := []store.Policy{
		{ID: "a", Name: "arm", Enabled: true, Labels: []string{"arm64"}},
		{ID: "l", Name: "linux-small", Enabled: true, Labels: []string{"linux"}},
		{ID: "w", Name: "windows", Enabled: true, Labels: []string{"windows"}},
	}
	if p, reason := Match([]string{"self-hosted"}, policies); p == nil || p.Name != "linux-small" {
		t.Fatalf("Match([self-hosted]) = %v (%s), want linux-small", p, reason)
	}
	for labels, want := range map[string]bool{"ubuntu-latest": true, "windows-2022": true, "ubuntu-24.04,self-hosted": false, "gpu": false} {
		if got := GitHubHosted(strings.Split(labels, ",")); got != want {
			t.Errorf("GitHubHosted(%s) = %v, want %v", labels, got, want)
		}
	}
}
