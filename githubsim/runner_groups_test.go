package githubsim_test

import (
	"testing"

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

	otherGH := e.client(t, e.installationToken(t, other.InstallationID, nil))
	_, resp, err := otherGH.Actions.ListOrganizationRunnerGroups(ctxT(t), "acme", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("another organisation's token: err %v, want 404", err)
	}
}
