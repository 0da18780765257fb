package githubsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/githubsim/githubspec"
)

// TestEnvironmentApproval: a job of an environment with required reviewers is waiting
// (workflow_job waiting delivered, valid against GitHub's description) and offered to no
// runner; approved, it is queued (workflow_job queued) and the runner takes it at once.
func TestEnvironmentApproval(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "s"})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	job, err := e.sim.QueueJobForEnvironment(ctxT(t), "acme/api", []string{"self-hosted", "linux-small"})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != "waiting" {
		t.Fatalf("job %+v, want waiting", job)
	}
	r := newSimRunner(t, e, newJITRunner(t, e, gh, "r", "self-hosted", "linux-small").config)
	if j := r.acquire(t, "0s"); j != nil {
		t.Fatalf("a runner took waiting job %d", j.ID)
	}
	runs, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctxT(t), "acme", "api", nil)
	if err != nil || runs.GetTotalCount() != 1 || runs.WorkflowRuns[0].GetStatus() != "waiting" {
		t.Fatalf("runs %+v, %v: want one waiting", runs, err)
	}
	if _, err := e.sim.ApproveJob(ctxT(t), job.ID); err != nil {
		t.Fatal(err)
	}
	if j := r.acquire(t, "5s"); j == nil || j.ID != job.ID {
		t.Fatalf("approved job not taken: %+v", j)
	}
	if err := e.sim.SendLateWaiting(ctxT(t), job.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctxT(t), 10*time.Second)
	defer cancel()
	ds, err := e.sim.WaitDeliveries(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, d := range ds {
		actions = append(actions, d.Action)
		if err := githubspec.ValidateWebhook("workflow_job", d.Action, d.Payload); err != nil {
			t.Errorf("%s delivery: %v", d.Action, err)
		}
	}
	if got := actions; len(got) != 4 || got[0] != "waiting" || got[1] != "queued" || got[2] != "in_progress" || got[3] != "waiting" {
		t.Fatalf("deliveries %v, want waiting, queued, in_progress, waiting", got)
	}
}
