package webhook_test

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/garo-dev/garo/githubsim/githubspec"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// TestOfficialExamples posts every workflow_job example of @octokit/webhooks-examples,
// signed with a known secret, each to a server on a fresh database that has policies for
// the examples' self-hosted repositories, and checks the job state it produces; a tampered
// copy of each is refused with 401.
func TestOfficialExamples(t *testing.T) {
	examples, err := githubspec.Examples("workflow_job")
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) < 8 {
		t.Fatalf("only %d workflow_job examples vendored", len(examples))
	}
	names := make([]string, 0, len(examples))
	for name := range examples {
		names = append(names, name)
	}
	sort.Strings(names)
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		for _, name := range names {
			body := examples[name]
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, testdb.Fresh(t, b))
				// The self-hosted examples' repositories get a policy offering their labels.
				for repo, labels := range map[string][]string{
					"octo-org/example-workflow":          {"gpu", "db-app", "dc-03"},
					"lineville/elastic-machines-testing": {"k8s"},
				} {
					owner, name, _ := strings.Cut(repo, "/")
					if err := e.st.CreatePolicy(t.Context(), &store.Policy{
						ID: repo, Owner: owner, Repo: name, OwnerKey: strings.ToLower(owner), RepoKey: strings.ToLower(repo),
						Name: "ex", Labels: labels, MaxRunners: 2, Ephemeral: true, AgentGroup: "default", Enabled: true,
						Provider: "docker", RunnerSpec: store.JSONText(`{"image":"x"}`),
					}); err != nil {
						t.Fatal(err)
					}
				}
				var p struct {
					Action      string `json:"action"`
					WorkflowJob struct {
						ID     int64    `json:"id"`
						Labels []string `json:"labels"`
					} `json:"workflow_job"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				tampered := bytes.Replace(body, []byte(`"action"`), []byte(`"action" `), 1)
				if got, _ := e.send(delivery{event: "workflow_job", guid: "t-" + name, sig256: sign(body, secret), body: tampered}); got != 401 {
					t.Fatalf("tampered example = %d, want 401", got)
				}
				got, out := e.send(delivery{event: "workflow_job", guid: name, sig256: sign(body, secret), body: body})
				if got != 200 || out["status"] != "processed" {
					t.Fatalf("example = %d %v", got, out)
				}
				job, err := e.st.GetJob(t.Context(), p.WorkflowJob.ID, false)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{
					"in_progress": portalapi.JobInProgress, "completed": portalapi.JobCompleted,
					"queued": portalapi.JobQueued, "waiting": portalapi.JobWaiting,
				}[p.Action]
				selfHosted := false
				for _, l := range p.WorkflowJob.Labels {
					selfHosted = selfHosted || l == "self-hosted" || l == "gpu"
				}
				if !selfHosted && (p.Action == "queued" || p.Action == "waiting") {
					want = portalapi.JobUnmatched // ubuntu-latest is GitHub-hosted: no policy offers it
				}
				if job.State != want || job.GitHubStatus != p.Action {
					t.Fatalf("%s (labels %v): state %s / %s, want %s", p.Action, p.WorkflowJob.Labels, job.State, job.GitHubStatus, want)
				}
				if selfHosted && job.PolicyName != "ex" {
					t.Fatalf("self-hosted example not matched: policy %q (%s)", job.PolicyName, job.UnmatchedReason)
				}
			})
		}
	})
}
