package jobs

import (
	"strings"
	"testing"

	"github.com/garo-dev/garo/server/store"
)

func TestMatchGroup(t *testing.T) {
	t.Parallel()
	repo := store.Policy{Name: "repo-linux", Labels: []string{"linux"}, Enabled: true, RegistrationLevel: store.LevelRepository}
	gpu := store.Policy{Name: "org-gpu", Labels: []string{"gpu"}, Enabled: true, RegistrationLevel: store.LevelOrganization, RunnerGroup: "GPU fleet"}
	gpuBig := store.Policy{Name: "org-gpu-big", Labels: []string{"gpu", "big"}, Enabled: true, RegistrationLevel: store.LevelOrganization, RunnerGroup: "GPU fleet"}
	other := store.Policy{Name: "org-arm", Labels: []string{"gpu"}, Enabled: true, RegistrationLevel: store.LevelOrganization, RunnerGroup: "arm"}
	all := []store.Policy{repo, gpu, gpuBig, other}

	for name, tc := range map[string]struct {
		group  string
		labels []string
		want   string
	}{
		"group only":               {"gpu fleet", nil, "org-gpu"},
		"group and labels":         {"GPU fleet", []string{"big"}, "org-gpu-big"},
		"no group: labels as ever": {"", []string{"linux"}, "repo-linux"},
		"unknown group":            {"x86", nil, ""},
		"group without the label":  {"arm", []string{"big"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, reason := MatchGroup(tc.group, tc.labels, all)
			switch {
			case tc.want == "" && p != nil:
				t.Fatalf("matched %s, want none", p.Name)
			case tc.want == "" && reason == "":
				t.Fatal("no match and no reason")
			case tc.want != "" && (p == nil || p.Name != tc.want):
				t.Fatalf("matched %v (%s), want %s", p, reason, tc.want)
			}
		})
	}
	if _, reason := MatchGroup("x86", nil, all); !strings.Contains(reason, `runner group "x86"`) {
		t.Errorf("reason %q does not name the group", reason)
	}
}

// TestMatchGroupOnlyJob: a job with no labels and no group (GitHub's queued event for
// runs-on: {group: NAME}) goes to the runner group of the repository's organisation-level
// policies when they use one; with several, or none, it is unmatched with the reason.
func TestMatchGroupOnlyJob(t *testing.T) {
	t.Parallel()
	repo := store.Policy{Name: "repo-linux", Labels: []string{"linux"}, Enabled: true, RegistrationLevel: store.LevelRepository}
	gpu := store.Policy{Name: "org-gpu", Labels: []string{"gpu"}, Enabled: true, RegistrationLevel: store.LevelOrganization, RunnerGroup: "GPU fleet"}
	gpuBig := store.Policy{Name: "org-gpu-big", Labels: []string{"gpu", "big"}, Enabled: true, RegistrationLevel: store.LevelOrganization, RunnerGroup: "gpu FLEET"}
	arm := store.Policy{Name: "org-arm", Labels: []string{"arm64"}, Enabled: true, RegistrationLevel: store.LevelOrganization, RunnerGroup: "arm"}
	armOff := arm
	armOff.Enabled = false

	if p, reason := MatchGroup("", nil, []store.Policy{repo, gpu, gpuBig, armOff}); p == nil || p.Name != "org-gpu" {
		t.Fatalf("one group: matched %v (%s), want org-gpu, its most specific policy", p, reason)
	}
	p, reason := MatchGroup("", nil, []store.Policy{repo, gpu, arm})
	if p != nil || !strings.Contains(reason, "several runner groups (GPU fleet, arm)") {
		t.Fatalf("two groups: matched %v, reason %q; want none, naming both groups", p, reason)
	}
	if p, reason := MatchGroup("", []string{}, []store.Policy{repo}); p != nil || !strings.Contains(reason, "no labels") {
		t.Fatalf("no organisation-level policy: matched %v, reason %q; want none", p, reason)
	}
}
