package githubapp

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/githubsim/githubspec"
)

// TestSimListOpenJobsSeesJobsOfRunningRuns: the second and third jobs of a needs: chain
// are queued inside a run that is in_progress, and a 120-job matrix needs two pages of
// jobs; ListOpenJobs sees all of them, asking GitHub for status queued and in_progress
// runs with per_page=100 and jobs with filter=latest, following the Link header.
func TestSimListOpenJobsSeesJobsOfRunningRuns(t *testing.T) {
	t.Parallel()
	e := newSimEnv(t, "", nil)
	ctx := context.Background()
	labels := []string{"self-hosted", "linux"}
	chain, err := e.sim.QueueRun(ctx, "acme/api", []githubsim.RunJob{
		{Name: "build", Labels: labels},
		{Name: "test", Labels: labels, Needs: []string{"build"}, Quiet: true},
		{Name: "deploy", Labels: labels, Needs: []string{"build"}, Quiet: true},
	})
	if err != nil || len(chain) != 1 {
		t.Fatalf("QueueRun = %+v, %v", chain, err)
	}
	var matrix []githubsim.RunJob
	for i := range 120 {
		matrix = append(matrix, githubsim.RunJob{Name: fmt.Sprintf("test (%d)", i), Labels: labels, Quiet: true})
	}
	if _, err := e.sim.QueueRun(ctx, "acme/api", matrix); err != nil {
		t.Fatal(err)
	}
	// A runner takes and finishes "build": test and deploy are queued, the run is in_progress.
	jit, err := e.c.GenerateJITConfig(ctx, "acme", "api", JITRequest{Name: "r1", Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.RunRunner(ctx, jit.EncodedJITConfig, 0); err != nil {
		t.Fatal(err)
	}

	before := len(e.sim.Requests())
	got, err := e.c.ListOpenJobs(ctx, "acme", "api", 50, 0)
	if err != nil || !got.Complete || got.Runs != 2 {
		t.Fatalf("ListOpenJobs = %d jobs, runs %d, complete %v, %v", len(got.Jobs), got.Runs, got.Complete, err)
	}
	status := map[string]int{}
	var chainNames []string
	for _, j := range got.Jobs {
		status[j.Status]++
		if j.RunID == chain[0].RunID {
			chainNames = append(chainNames, j.Name+"="+j.Status)
		}
	}
	if !slices.Equal(chainNames, []string{"build=completed", "test=queued", "deploy=queued"}) {
		t.Errorf("jobs of the needs: run = %v", chainNames)
	}
	// The ephemeral runner ran build only: the matrix and test, deploy are queued.
	if status["queued"] != 122 || status["completed"] != 1 {
		t.Errorf("statuses = %v, want 122 queued, 1 completed", status)
	}
	reqs := e.sim.Requests()[before:]
	if len(reqs) != got.Calls || got.Calls != 5 {
		t.Errorf("requests = %d (counted %d), want 5: runs queued, runs in_progress, jobs of the chain, two pages of the matrix", len(reqs), got.Calls)
	}
	var queries []string
	for _, r := range reqs {
		q, err := url.ParseQuery(r.Query)
		if err != nil {
			t.Fatal(err)
		}
		if err := githubspec.ValidateQuery(r.Method, r.Route, q); err != nil {
			t.Errorf("Garo's request is not GitHub's: %v", err)
		}
		queries = append(queries, strings.TrimPrefix(r.Path, "/repos/acme/api/actions/")+"?"+r.Query)
	}
	for _, q := range queries {
		switch {
		case strings.HasPrefix(q, "runs?"):
			if !strings.Contains(q, "per_page=100") || !strings.Contains(q, "status=queued") && !strings.Contains(q, "status=in_progress") {
				t.Errorf("run listing %s: want status queued/in_progress, per_page=100", q)
			}
		case strings.Contains(q, "/jobs?"):
			if !strings.Contains(q, "filter=latest") || !strings.Contains(q, "per_page=100") {
				t.Errorf("job listing %s: want filter=latest, per_page=100", q)
			}
		default:
			t.Errorf("unexpected request %s", q)
		}
	}
	if !slices.ContainsFunc(queries, func(q string) bool { return strings.Contains(q, "/jobs?") && strings.Contains(q, "page=2") }) {
		t.Errorf("no second page of the matrix's jobs: %v", queries)
	}
}
