package githubsim_test

import (
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

// TestListOrgRunnerGroups: an organisation's installation token lists the Default group,
// visible to all repositories; another organisation's token gets 404.
func TestListOrgRunnerGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	other := e.sim.AddRepository("umbrella/web")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))

	groups, _, err := gh.Actions.ListOrganizationRunnerGroups(ctxT(t), "acme", nil)
	if err != nil {
		t.Fatalf("list runner groups: %v", err)
	}
	if groups.TotalCount != 1 || len(groups.RunnerGroups) != 1 {
		t.Fatalf("groups %+v, want the Default group only", groups)
	}
	g := groups.RunnerGroups[0]
	if g.GetID() != 1 || g.GetName() != "Default" || g.GetVisibility() != "all" || !g.GetDefault() {
		t.Fatalf("group %+v, want id 1, Default, visibility all, default", g)
	}

	// A group limited to selected repositories is listed, and visible_to_repository
	// keeps it only for the repositories it admits.
	e.sim.AddRepository("acme/web")
	sel := e.sim.AddRunnerGroup("acme", "gpu", "selected", "acme/api")
	if sel.ID <= 1 {
		t.Fatalf("group id %d, want past the Default group", sel.ID)
	}
	groups, _, err = gh.Actions.ListOrganizationRunnerGroups(ctxT(t), "acme", nil)
	if err != nil || groups.TotalCount != 2 || groups.RunnerGroups[1].GetName() != "gpu" || groups.RunnerGroups[1].GetVisibility() != "selected" {
		t.Fatalf("groups %+v (err %v), want Default and gpu (selected)", groups, err)
	}
	for repo, want := range map[string]int{"api": 2, "web": 1} {
		got, _, err := gh.Actions.ListOrganizationRunnerGroups(ctxT(t), "acme", &github.ListOrgRunnerGroupOptions{VisibleToRepository: repo})
		if err != nil || got.TotalCount != want {
			t.Errorf("visible_to_repository=%s: %+v (err %v), want %d groups", repo, got, err, want)
		}
	}

	otherGH := e.client(t, e.installationToken(t, other.InstallationID, nil))
	_, resp, err := otherGH.Actions.ListOrganizationRunnerGroups(ctxT(t), "acme", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("another organisation's token: err %v, want 404", err)
	}
}
