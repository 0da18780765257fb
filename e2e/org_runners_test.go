package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// orgPolicy creates an ephemeral policy of repository r; group "" keeps it at repository
// level.
func (e *env) orgPolicy(t *testing.T, r, name, group string) *portalapi.Policy {
	t.Helper()
	grace, boot, eph := portalapi.Duration(time.Minute), portalapi.Duration(2*time.Minute), true
	req := portalapi.PolicyRequest{
		Name: name, Labels: []string{name}, MaxRunners: 3, Ephemeral: &eph,
		IdleGrace: &grace, BootstrapTimeout: &boot, Provider: "docker", Runner: portalapi.RunnerSpec{Image: "runner:1"},
	}
	if group != "" {
		req.RegistrationLevel, req.RunnerGroup = portalapi.RegistrationOrganization, group
	}
	p, err := e.portal.CreatePolicy(t.Context(), r, req)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOrganisationRunnerGroupWithRepositoryRunnersDisabled (issue 16, part 1): the
// organisation acme refuses repository-level runners and has a runner group "ci-fleet"
// for acme/api only. A job of acme/api asking for the group alone (runs-on: {group:
// ci-fleet}, so no labels in GitHub's queued event), and one asking for the policy's
// label, run on organisation runners of that group, end to end. A job of acme/web,
// outside the group's access, and one for a repository-level policy of acme/web, which
// GitHub refuses with 403, wait with GitHub's refusal as the reason in the portal: in the
// job's agent_reason and in the policy's serving state.
func TestOrganisationRunnerGroupWithRepositoryRunnersDisabled(t *testing.T) {
	const web = "acme/web"
	e := newEnvWith(t, envOptions{repositories: []string{repo, web}})
	e.sim.SetRepositoryRunners("acme", "none")
	fleet := e.sim.AddRunnerGroup("acme", "ci-fleet", "selected", repo)
	e.orgPolicy(t, repo, "fleet", "ci-fleet")
	e.orgPolicy(t, web, "fleet", "ci-fleet")
	e.orgPolicy(t, web, "repo-level", "")

	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return e.sim.RunRunner(ctx, r.JITConfig(), 50*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	startAgent(t, e, e.agentConfig(e.registrationToken(t)), prov, app.Options{})

	groupOnly, err := e.sim.QueueJobInGroup(t.Context(), repo, "ci-fleet", nil)
	if err != nil {
		t.Fatal(err)
	}
	labelled, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	outside, err := e.sim.QueueJob(t.Context(), web, []string{"self-hosted", "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	repoLevel, err := e.sim.QueueJob(t.Context(), web, []string{"self-hosted", "repo-level"})
	if err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, 60*time.Second, "both jobs of acme/api completed", func() bool {
		return e.completed([]int64{groupOnly.ID, labelled.ID}) == 2
	})
	for _, id := range []int64{groupOnly.ID, labelled.ID} {
		j, _ := e.sim.Job(id)
		if j.Conclusion != "success" || j.RunnerGroupID != fleet.ID || j.RunnerGroupName != "ci-fleet" || !strings.HasPrefix(j.RunnerName, "garo-") {
			t.Errorf("job %d: %+v, want success on a Garo runner of group ci-fleet (%d)", id, j, fleet.ID)
		}
	}
	// No repository-level runner was ever registered, and the organisation's runners
	// that ran the jobs were ephemeral: they are gone.
	for _, r := range []string{repo, web} {
		if rs := e.sim.Runners(r); len(rs) != 0 {
			t.Errorf("repository runners of %s: %+v, want none", r, rs)
		}
	}
	ran := map[string]bool{}
	for _, id := range []int64{groupOnly.ID, labelled.ID} {
		j, _ := e.sim.Job(id)
		ran[j.RunnerName] = true
	}
	for _, r := range e.sim.OrgRunners("acme") {
		if ran[r.Name] || r.GroupID != fleet.ID {
			t.Errorf("organisation runner %+v: want only idle ones of ci-fleet, the ephemeral runners that ran the jobs gone", r)
		}
	}
	// The portal has them completed by policy fleet, once the completed webhooks are in.
	testkit.Eventually(t, 30*time.Second, "both jobs of acme/api completed in the portal by policy fleet", func() bool {
		done := 0
		for _, j := range e.jobs(t) {
			if j.Policy == "fleet" && j.State == portalapi.JobCompleted {
				done++
			}
		}
		return done == 2
	})

	// acme/web: both jobs wait, each with GitHub's refusal as its reason.
	wantReason := map[int64]string{
		outside.ID:   `runner group "ci-fleet" does not allow repository acme/web`,
		repoLevel.ID: "GitHub refused to register a repository-level runner on acme/web (403)",
	}
	var last []portalapi.Job
	testkit.Eventually(t, 60*time.Second, "the refusals in acme/web's jobs", func() bool {
		last = e.jobsOf(t, web)
		found := 0
		for _, j := range last {
			if want, ok := wantReason[j.ID]; ok && j.State == portalapi.JobQueued &&
				j.AgentState == portalapi.JobBackingOff && strings.Contains(j.AgentReason, want) {
				found++
			}
		}
		return found == 2
	})
	for _, name := range []string{"fleet", "repo-level"} {
		p, err := e.portal.GetPolicy(t.Context(), web, name)
		if err != nil {
			t.Fatal(err)
		}
		want := wantReason[outside.ID]
		if name == "repo-level" {
			want = wantReason[repoLevel.ID]
		}
		if p.Serving == nil || p.Serving.State != portalapi.PolicyRefusedByGitHub || !strings.Contains(p.Serving.Reason, want) {
			t.Errorf("policy %s of %s: serving %+v, want github_refused with %q", name, web, p.Serving, want)
		}
	}
	// The repository-level refusal says what to do about it.
	for _, j := range last {
		if j.ID == repoLevel.ID && !strings.Contains(j.AgentReason, `registration_level "organization"`) {
			t.Errorf("repository-level refusal %q does not point to organisation runners", j.AgentReason)
		}
	}
	for _, id := range []int64{outside.ID, repoLevel.ID} {
		if j, _ := e.sim.Job(id); j.Status != "queued" {
			t.Errorf("job %d of acme/web: %s, want still queued", id, j.Status)
		}
	}
	// The refusals cost bounded GitHub calls: the agent backs the policies off.
	jit := 0
	for _, r := range e.sim.Requests() {
		if r.Route == "/repos/{owner}/{repo}/actions/runners/generate-jitconfig" {
			jit++
		}
	}
	t.Logf("%d repository-level generate-jitconfig calls in all", jit)
	if jit == 0 || jit > 10 {
		t.Errorf("%d repository-level generate-jitconfig calls, want a few (the agent backs off)", jit)
	}

	// An idle organisation runner (min_idle 1) of a policy that is then deleted is
	// removed from the organisation through its route.
	grace, boot, eph := portalapi.Duration(time.Minute), portalapi.Duration(2*time.Minute), true
	if _, err := e.portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{
		Name: "idle", Labels: []string{"idle"}, MinIdle: 1, MaxRunners: 1, Ephemeral: &eph, IdleGrace: &grace, BootstrapTimeout: &boot,
		Provider: "docker", Runner: portalapi.RunnerSpec{Image: "runner:1"},
		RegistrationLevel: portalapi.RegistrationOrganization, RunnerGroup: "ci-fleet",
	}); err != nil {
		t.Fatal(err)
	}
	// (Other organisation runners may be about: the agent may have made one runner more
	// than the two jobs of fleet took, which it reaps after the idle grace.)
	var idle []githubsim.Runner
	idleRunners := func() []githubsim.Runner {
		var out []githubsim.Runner
		for _, r := range e.sim.OrgRunners("acme") {
			if strings.HasPrefix(r.Name, "garo-idle-") {
				out = append(out, r)
			}
		}
		return out
	}
	testkit.Eventually(t, 30*time.Second, "an idle organisation runner online", func() bool {
		idle = idleRunners()
		return len(idle) == 1 && idle[0].Status == "online" && idle[0].GroupID == fleet.ID
	})
	if err := e.portal.DeletePolicy(t.Context(), repo, "idle", ""); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the idle organisation runner removed", func() bool { return len(idleRunners()) == 0 })
	deletes := 0
	for _, r := range e.sim.Requests() {
		if r.Method == "DELETE" && r.Route == "/orgs/{org}/actions/runners/{runner_id}" && strings.HasSuffix(r.Path, "/orgs/acme/actions/runners/"+itoa(idle[0].ID)) && r.Status == 204 {
			deletes++
		}
	}
	if deletes != 1 {
		var seen []githubsim.RequestRecord
		for _, r := range e.sim.Requests() {
			if r.Method == "DELETE" || strings.Contains(r.Path, "/runners/") {
				seen = append(seen, r)
			}
		}
		t.Errorf("%d removals of runner %d through the organisation route, want 1 (runner calls: %+v)", deletes, idle[0].ID, seen)
	}
}
