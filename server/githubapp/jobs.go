package githubapp

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-github/v60/github"
)

// Job is a workflow job as GitHub sees it. Status is queued, in_progress, completed (and
// waiting, requested, pending on newer GitHub versions); Labels are the job's runs-on.
type Job struct {
	ID, RunID                         int64
	Owner, Repo                       string
	Name, Status, Conclusion          string
	Labels                            []string
	RunnerID                          int64
	RunnerName                        string
	CreatedAt, StartedAt, CompletedAt time.Time
	HTMLURL                           string
}

func jobFrom(owner, repo string, j *github.WorkflowJob) Job {
	return Job{
		ID: j.GetID(), RunID: j.GetRunID(),
		Owner: owner, Repo: repo,
		Name: j.GetName(), Status: j.GetStatus(), Conclusion: j.GetConclusion(),
		Labels:   append([]string(nil), j.Labels...),
		RunnerID: j.GetRunnerID(), RunnerName: j.GetRunnerName(),
		CreatedAt: j.GetCreatedAt().Time, StartedAt: j.GetStartedAt().Time, CompletedAt: j.GetCompletedAt().Time,
		HTMLURL: j.GetHTMLURL(),
	}
}

// GetJob returns one workflow job of owner/repo; ErrNotFound when GitHub does not know it.
func (c *Client) GetJob(ctx context.Context, owner, repo string, jobID int64) (*Job, error) {
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("get job %d of %s/%s: %w", jobID, owner, repo, err)
	}
	j, _, err := gh.Actions.GetWorkflowJobByID(ctx, owner, repo, jobID)
	if err != nil {
		return nil, fmt.Errorf("get job %d of %s/%s: %w", jobID, owner, repo, c.done(owner, repo, id, err))
	}
	out := jobFrom(owner, repo, j)
	return &out, nil
}

// OpenJobs is what ListOpenJobs found on one repository.
type OpenJobs struct {
	// Jobs are the jobs of the repository's open workflow runs (status queued or
	// in_progress), latest attempt, in whatever status each job is: queued, in_progress,
	// completed (an earlier job of a run still going), waiting...
	Jobs []Job
	// Runs counts the open runs listed.
	Runs int
	// LastRun is the run whose jobs were listed last; pass it as afterRun to the next call
	// to go on from there when the budget ran out (0 when Complete).
	LastRun int64
	// Calls counts the requests sent.
	Calls int
	// Complete: every open run and all its jobs were listed. False when the budget ran out
	// first (the jobs found so far are in Jobs) or GitHub's search cap of 1,000 runs per
	// status was reached.
	Complete bool
}

// openRunStatuses are the run statuses whose jobs may be waiting for a runner: a run is
// queued until its first job starts and in_progress while any job runs, so every job
// after the first of a multi-job run (needs:, matrices) is queued inside an in_progress run.
var openRunStatuses = []string{"queued", "in_progress"}

// maxRunsPerStatus is GitHub's cap on a filtered run listing: "This endpoint will return
// up to 1,000 results for each search when using the following parameters: ... status"
// (List workflow runs for a repository, https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository).
const maxRunsPerStatus = 1000

// ListOpenJobs lists the jobs of owner/repo's open workflow runs, sending at most budget
// requests: GET /repos/{owner}/{repo}/actions/runs?status=queued, then status=in_progress
// (per_page=100, following the Link header's rel="next"), then for each run
// GET .../runs/{run_id}/jobs?filter=latest&per_page=100, paged the same way ("List
// workflow runs for a repository", "List jobs for a workflow run", "Using pagination in
// the REST API" in GitHub's REST reference). The jobs of the oldest open runs after
// afterRun come first (their jobs have waited longest), then those of the runs up to
// afterRun: a repository with more open runs than one budget covers is walked over
// several calls.
func (c *Client) ListOpenJobs(ctx context.Context, owner, repo string, budget int, afterRun int64) (OpenJobs, error) {
	var out OpenJobs
	if budget <= 0 {
		return out, fmt.Errorf("list open jobs of %s/%s: budget must be positive, got %d", owner, repo, budget)
	}
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return out, fmt.Errorf("list open jobs of %s/%s: %w", owner, repo, err)
	}
	var runs []int64
	seen := map[int64]bool{}
	complete := true
	for _, status := range openRunStatuses {
		opts := &github.ListWorkflowRunsOptions{Status: status, ListOptions: github.ListOptions{PerPage: 100}}
		listed := 0
		for {
			if out.Calls >= budget {
				return out, nil
			}
			out.Calls++
			page, resp, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, opts)
			if err != nil {
				return out, fmt.Errorf("list %s runs of %s/%s: %w", status, owner, repo, c.done(owner, repo, id, err))
			}
			for _, run := range page.WorkflowRuns {
				listed++
				// A run can move from queued to in_progress between the two listings.
				if !seen[run.GetID()] {
					seen[run.GetID()] = true
					runs = append(runs, run.GetID())
				}
			}
			if resp.NextPage == 0 || resp.NextPage == opts.Page || len(page.WorkflowRuns) == 0 {
				if listed >= maxRunsPerStatus && page.GetTotalCount() >= maxRunsPerStatus {
					complete = false
				}
				break
			}
			opts.Page = resp.NextPage
		}
	}
	out.Runs = len(runs)
	out.LastRun = afterRun // unless a run's jobs are listed below
	slices.Sort(runs)      // oldest first: run ids grow
	i, _ := slices.BinarySearch(runs, afterRun+1)
	runs = append(runs[i:], runs[:i]...)
	for _, runID := range runs {
		jobs, calls, done, err := c.jobsOfRun(ctx, gh, owner, repo, runID, budget-out.Calls)
		out.Calls += calls
		out.Jobs = append(out.Jobs, jobs...)
		if err != nil {
			return out, fmt.Errorf("list jobs of %s/%s run %d: %w", owner, repo, runID, c.done(owner, repo, id, err))
		}
		if !done {
			return out, nil
		}
		out.LastRun = runID
	}
	out.LastRun = 0
	out.Complete = complete
	return out, nil
}

// jobsOfRun lists the jobs of one run's latest attempt with at most budget requests; done
// reports that every page was read.
func (c *Client) jobsOfRun(ctx context.Context, gh *github.Client, owner, repo string, runID int64, budget int) (out []Job, calls int, done bool, err error) {
	opts := &github.ListWorkflowJobsOptions{Filter: "latest", ListOptions: github.ListOptions{PerPage: 100}}
	for {
		if calls >= budget {
			return out, calls, false, nil
		}
		calls++
		page, resp, err := gh.Actions.ListWorkflowJobs(ctx, owner, repo, runID, opts)
		if err != nil {
			return out, calls, false, err
		}
		for _, j := range page.Jobs {
			out = append(out, jobFrom(owner, repo, j))
		}
		if resp.NextPage == 0 || resp.NextPage == opts.Page || len(page.Jobs) == 0 {
			return out, calls, true, nil
		}
		opts.Page = resp.NextPage
	}
}
