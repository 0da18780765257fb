package githubsim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

// TestOrgRunnersServeTheirGroupsRepositories: an organisation runner in a group of
// selected repositories takes the jobs of those repositories only; a job naming a group
// goes to that group's runners, not to a repository runner nor to another group's.
func TestOrgRunnersServeTheirGroupsRepositories(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	api := e.sim.AddRepository("acme/api")
	e.sim.AddRepository("acme/web")
	gpu := e.sim.AddRunnerGroup("acme", "gpu", "selected", "acme/api")
	gh := e.client(t, e.installationToken(t, api.InstallationID, nil))
	ctx := ctxT(t)

	orgJIT := func(name string, group int64) *github.JITRunnerConfig {
		t.Helper()
		cfg, _, err := gh.Actions.GenerateOrgJITConfig(ctx, "acme", &github.GenerateJITConfigRequest{Name: name, RunnerGroupID: group, Labels: []string{"self-hosted", "linux"}})
		if err != nil {
			t.Fatalf("generate organisation jit config %s: %v", name, err)
		}
		return cfg
	}
	inGPU := orgJIT("gpu-1", gpu.ID)
	inDefault := orgJIT("default-1", 1)
	if _, _, err := gh.Actions.GenerateOrgJITConfig(ctx, "acme", &github.GenerateJITConfigRequest{Name: "gpu-1", RunnerGroupID: gpu.ID, Labels: []string{"x"}}); statusOf(err) != http.StatusConflict {
		t.Fatalf("a taken name: %v, want 409", err)
	}
	if _, _, err := gh.Actions.GenerateOrgJITConfig(ctx, "acme", &github.GenerateJITConfigRequest{Name: "nogroup", RunnerGroupID: 999, Labels: []string{"x"}}); statusOf(err) != http.StatusNotFound {
		t.Fatalf("an unknown group: %v, want 404", err)
	}
	// The organisation's runners are its own: the repository route does not list them.
	if rs := e.sim.Runners("acme/api"); len(rs) != 0 {
		t.Fatalf("repository runners %+v, want none", rs)
	}
	if rs := e.sim.OrgRunners("acme"); len(rs) != 2 || rs[0].Org != "acme" || rs[0].GroupID != gpu.ID || rs[1].GroupID != 1 {
		t.Fatalf("organisation runners %+v, want gpu-1 in group %d and default-1 in group 1", rs, gpu.ID)
	}

	webJob, err := e.sim.QueueJob(ctx, "acme/web", []string{"self-hosted"})
	if err != nil {
		t.Fatal(err)
	}
	groupJob, err := e.sim.QueueJobInGroup(ctx, "acme/api", "GPU", nil) // names compare ignoring case
	if err != nil {
		t.Fatal(err)
	}
	if groupJob.RunnerGroup != "GPU" || len(groupJob.Labels) != 0 {
		t.Fatalf("job in group: %+v", groupJob)
	}
	// The gpu runner skips acme/web's older job (not in its group's access) and takes
	// the job that names its group.
	if err := e.sim.RunRunner(ctx, inGPU.GetEncodedJITConfig(), 0); err != nil {
		t.Fatal(err)
	}
	if j, _ := e.sim.Job(groupJob.ID); j.RunnerName != "gpu-1" || j.Conclusion != "success" {
		t.Fatalf("group job %+v, want run by gpu-1", j)
	}
	if j, _ := e.sim.Job(webJob.ID); j.Status != "queued" {
		t.Fatalf("acme/web's job %+v, want still queued", j)
	}

	// A repository runner and a runner of another group leave a job naming gpu alone.
	second, err := e.sim.QueueJobInGroup(ctx, "acme/api", "gpu", []string{"self-hosted"})
	if err != nil {
		t.Fatal(err)
	}
	repoJIT, _, err := gh.Actions.GenerateRepoJITConfig(ctx, "acme", "api", &github.GenerateJITConfigRequest{Name: "repo-1", RunnerGroupID: 1, Labels: []string{"self-hosted"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{repoJIT.GetEncodedJITConfig(), inDefault.GetEncodedJITConfig()} {
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := e.sim.RunRunner(short, cfg, 0)
		cancel()
		if j, _ := e.sim.Job(second.ID); j.Status != "queued" {
			t.Fatalf("job naming gpu was taken by %s (err %v)", j.RunnerName, err)
		}
	}
	// The Default group admits every repository: acme/web's job went to default-1.
	if j, _ := e.sim.Job(webJob.ID); j.RunnerName != "default-1" {
		t.Fatalf("acme/web's job %+v, want run by default-1", j)
	}
}

// TestOrgRunnerRoutes: get, list and delete through the organisation routes see the
// organisation's runners only; a busy one is 422, as on the repository route.
func TestOrgRunnerRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	api := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, api.InstallationID, nil))
	ctx := ctxT(t)
	org, _, err := gh.Actions.GenerateOrgJITConfig(ctx, "acme", &github.GenerateJITConfigRequest{Name: "o1", RunnerGroupID: 1, Labels: []string{"self-hosted"}})
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := gh.Actions.GenerateRepoJITConfig(ctx, "acme", "api", &github.GenerateJITConfigRequest{Name: "r1", RunnerGroupID: 1, Labels: []string{"self-hosted"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Actions.GetOrganizationRunner(ctx, "acme", repo.GetRunner().GetID()); statusOf(err) != http.StatusNotFound {
		t.Fatalf("a repository runner through the organisation route: %v, want 404", err)
	}
	if _, _, err := gh.Actions.GetRunner(ctx, "acme", "api", org.GetRunner().GetID()); statusOf(err) != http.StatusNotFound {
		t.Fatalf("an organisation runner through the repository route: %v, want 404", err)
	}
	list, _, err := gh.Actions.ListOrganizationRunners(ctx, "acme", nil)
	if err != nil || list.TotalCount != 1 || list.Runners[0].GetName() != "o1" {
		t.Fatalf("organisation runners %+v (err %v), want o1 only", list, err)
	}

	// Busy: 422 and kept; offline (its job failed): removed.
	if _, err := e.sim.QueueJob(ctx, "acme/api", []string{"self-hosted"}); err != nil {
		t.Fatal(err)
	}
	r := newSimRunner(t, e, org.GetEncodedJITConfig())
	if j := r.acquire(t, "5s"); j == nil {
		t.Fatal("the organisation runner got no job")
	}
	if _, err := gh.Actions.RemoveOrganizationRunner(ctx, "acme", r.id); statusOf(err) != http.StatusUnprocessableEntity {
		t.Fatalf("remove a busy organisation runner: %v, want 422", err)
	}
	if status, body := simPost(t, e, r.path("disconnect"), r.session, struct{}{}); status != http.StatusNoContent {
		t.Fatalf("disconnect: %d %s", status, body)
	}
	if _, err := gh.Actions.RemoveOrganizationRunner(ctx, "acme", r.id); err != nil {
		t.Fatalf("remove an idle organisation runner: %v", err)
	}
	if rs := e.sim.OrgRunners("acme"); len(rs) != 0 {
		t.Fatalf("organisation runners after removal: %+v", rs)
	}

	// A runner registered with the organisation's registration token joins the group
	// config.sh --runnergroup names.
	g := e.sim.AddRunnerGroup("acme", "big", "all")
	tok, _, err := gh.Actions.CreateOrganizationRegistrationToken(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	status, body := simPost(t, e, "/_sim/runners/register", "", map[string]any{"token": tok.GetToken(), "name": "reg-1", "runner_group": "BIG"})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	if rs := e.sim.OrgRunners("acme"); len(rs) != 1 || rs[0].GroupID != g.ID || rs[0].Name != "reg-1" {
		t.Fatalf("registered organisation runner %+v, want reg-1 in group %d", rs, g.ID)
	}
	status, body = simPost(t, e, "/_sim/runners/register", "", map[string]any{"token": tok.GetToken(), "name": "reg-2", "runner_group": "nope"})
	if status != http.StatusNotFound || !strings.Contains(string(body), "nope") {
		t.Fatalf("register in an unknown group: %d %s, want 404", status, body)
	}
}

// TestRepositoryRunnersDisabled: with repository-level runners disabled for the
// organisation (or limited to selected repositories), generate-jitconfig and
// registration-token of a repository left out answer 403; organisation runners still
// register.
func TestRepositoryRunnersDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	api := e.sim.AddRepository("acme/api")
	e.sim.AddRepository("acme/web")
	gh := e.client(t, e.installationToken(t, api.InstallationID, nil))
	ctx := ctxT(t)
	jit := func(repo string) error {
		_, _, err := gh.Actions.GenerateRepoJITConfig(ctx, "acme", repo, &github.GenerateJITConfigRequest{Name: "r-" + repo, RunnerGroupID: 1, Labels: []string{"self-hosted"}})
		return err
	}
	e.sim.SetRepositoryRunners("acme", "none")
	err := jit("api")
	var ghErr *github.ErrorResponse
	if statusOf(err) != http.StatusForbidden || !errors.As(err, &ghErr) || !strings.Contains(ghErr.Message, "Repository level self-hosted runners are disabled") {
		t.Fatalf("generate-jitconfig with repository runners disabled: %v, want 403 saying so", err)
	}
	if _, _, err := gh.Actions.CreateRegistrationToken(ctx, "acme", "api"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("registration-token with repository runners disabled: %v, want 403", err)
	}
	if _, _, err := gh.Actions.CreateRemoveToken(ctx, "acme", "api"); err != nil {
		t.Fatalf("remove-token is not refused: %v", err)
	}
	if _, _, err := gh.Actions.GenerateOrgJITConfig(ctx, "acme", &github.GenerateJITConfigRequest{Name: "o", RunnerGroupID: 1, Labels: []string{"self-hosted"}}); err != nil {
		t.Fatalf("organisation runner with repository runners disabled: %v", err)
	}

	e.sim.SetRepositoryRunners("acme", "selected", "acme/web")
	if err := jit("web"); err != nil {
		t.Fatalf("a selected repository: %v", err)
	}
	if err := jit("api"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("a repository not selected: %v, want 403", err)
	}
	e.sim.SetRepositoryRunners("acme", "all")
	if err := jit("api"); err != nil {
		t.Fatalf("repository runners enabled again: %v", err)
	}
}
