package githubsim_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/garo-dev/garo/githubsim"
)

// TestRunWithNeeds: a needs: chain queues its later jobs only when the jobs they need
// succeeded (inside a run that is in_progress meanwhile, with no queued delivery for a
// quiet job), and skips the dependants of a failed job.
func TestRunWithNeeds(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, githubsim.Options{WebhookURL: rc.srv.URL, WebhookSecret: "s"})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	l := []string{"self-hosted", "linux"}
	first, err := e.sim.QueueRun(ctxT(t), "acme/api", []githubsim.RunJob{
		{Name: "build", Labels: l},
		{Name: "test", Labels: l, Needs: []string{"build"}, Quiet: true},
		{Name: "deploy", Labels: l, Needs: []string{"test"}},
		{Name: "lint", Labels: l},
	})
	if err != nil || len(first) != 2 || first[0].Name != "build" || first[1].Name != "lint" {
		t.Fatalf("QueueRun = %+v, %v", first, err)
	}
	runID := first[0].RunID
	jobNames := func() []string {
		t.Helper()
		jobs, _, err := gh.Actions.ListWorkflowJobs(ctxT(t), "acme", "api", runID, &github.ListWorkflowJobsOptions{Filter: "latest"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs.Jobs {
			out = append(out, j.GetName()+"="+j.GetStatus())
		}
		return out
	}
	if got := fmt.Sprint(jobNames()); got != "[build=queued lint=queued]" {
		t.Fatalf("jobs before build = %s", got)
	}
	r := newSimRunner(t, e, newJITRunner(t, e, gh, "r", l...).config)
	if j := r.acquire(t, "5s"); j == nil || j.ID != first[0].ID {
		t.Fatalf("runner took %+v, want build", j)
	}
	r.complete(t, "success")
	if got := fmt.Sprint(jobNames()); got != "[build=completed lint=queued test=queued]" {
		t.Fatalf("jobs after build = %s", got)
	}
	run, _, err := gh.Actions.GetWorkflowRunByID(ctxT(t), "acme", "api", runID)
	if err != nil || run.GetStatus() != "in_progress" {
		t.Fatalf("run after build = %v, %v; want in_progress", run.GetStatus(), err)
	}
	open, _, err := gh.Actions.ListRepositoryWorkflowRuns(ctxT(t), "acme", "api", &github.ListWorkflowRunsOptions{Status: "in_progress"})
	if err != nil || open.GetTotalCount() != 1 {
		t.Fatalf("in_progress runs = %+v, %v", open, err)
	}
	if q, _, _ := gh.Actions.ListRepositoryWorkflowRuns(ctxT(t), "acme", "api", &github.ListWorkflowRunsOptions{Status: "queued"}); q.GetTotalCount() != 0 {
		t.Fatalf("queued runs = %d, want 0", q.GetTotalCount())
	}
	// test's queued delivery is lost; its failure skips deploy. (JIT runners are
	// ephemeral: one per job.)
	r = newSimRunner(t, e, newJITRunner(t, e, gh, "r2", l...).config)
	if j := r.acquire(t, "5s"); j == nil || j.ID != first[1].ID {
		t.Fatalf("runner took %+v, want lint (older)", j)
	}
	r.complete(t, "success")
	r = newSimRunner(t, e, newJITRunner(t, e, gh, "r3", l...).config)
	if j := r.acquire(t, "5s"); j == nil || j.ID <= first[1].ID {
		t.Fatalf("runner took %+v, want test", j)
	}
	r.complete(t, "failure")
	if got := fmt.Sprint(jobNames()); got != "[build=completed lint=completed test=completed]" {
		t.Fatalf("jobs after test failed = %s (deploy must be skipped)", got)
	}
	if run, _, _ := gh.Actions.GetWorkflowRunByID(ctxT(t), "acme", "api", runID); run.GetStatus() != "completed" || run.GetConclusion() != "failure" {
		t.Fatalf("run = %s/%s, want completed/failure", run.GetStatus(), run.GetConclusion())
	}
	queued := 0
	for _, d := range e.sim.Deliveries() {
		if d.Action == "queued" {
			queued++
		}
	}
	if queued != 2 {
		t.Errorf("%d queued deliveries, want 2 (build and lint; test's was lost, deploy skipped)", queued)
	}
}

// TestRunListingParameters: the job listing pages with per_page and Link, and refuses a
// filter GitHub's description does not admit.
func TestRunListingParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, githubsim.Options{})
	repo := e.sim.AddRepository("acme/api")
	gh := e.client(t, e.installationToken(t, repo.InstallationID, nil))
	var matrix []githubsim.RunJob
	for i := range 5 {
		matrix = append(matrix, githubsim.RunJob{Name: fmt.Sprintf("test (%d)", i), Labels: []string{"linux"}})
	}
	jobs, err := e.sim.QueueRun(ctxT(t), "acme/api", matrix)
	if err != nil || len(jobs) != 5 {
		t.Fatal(err)
	}
	page, resp, err := gh.Actions.ListWorkflowJobs(ctxT(t), "acme", "api", jobs[0].RunID, &github.ListWorkflowJobsOptions{ListOptions: github.ListOptions{PerPage: 2, Page: 2}})
	if err != nil || len(page.Jobs) != 2 || page.GetTotalCount() != 5 || resp.NextPage != 3 || resp.PrevPage != 1 || resp.LastPage != 3 {
		t.Fatalf("page 2 = %d jobs of %d, next %d prev %d last %d, %v", len(page.Jobs), page.GetTotalCount(), resp.NextPage, resp.PrevPage, resp.LastPage, err)
	}
	if page.Jobs[0].GetName() != "test (2)" {
		t.Errorf("page 2 starts with %s", page.Jobs[0].GetName())
	}
	_, _, err = gh.Actions.ListWorkflowJobs(ctxT(t), "acme", "api", jobs[0].RunID, &github.ListWorkflowJobsOptions{Filter: "newest"})
	if statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("filter=newest: %v, want 422", err)
	}
}
