package githubapp

import (
	"context"
	"fmt"
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

// ListQueuedJobs returns up to limit queued jobs of owner/repo, for catching up on missed
// webhooks: the queued workflow runs (newest first, as GitHub lists them), then each run's
// jobs that are queued. API use is bounded: at most limit runs are examined, so a call costs
// at most limit job listings plus the run pages that hold them.
func (c *Client) ListQueuedJobs(ctx context.Context, owner, repo string, limit int) ([]Job, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list queued jobs of %s/%s: limit must be positive, got %d", owner, repo, limit)
	}
	gh, id, err := c.forRepo(ctx, owner, repo)
	if err != nil {
		return nil, fmt.Errorf("list queued jobs of %s/%s: %w", owner, repo, err)
	}
	var out []Job
	runsSeen := 0
	runOpts := &github.ListWorkflowRunsOptions{Status: "queued", ListOptions: github.ListOptions{PerPage: min(limit, 100)}}
	for {
		runs, resp, err := gh.Actions.ListRepositoryWorkflowRuns(ctx, owner, repo, runOpts)
		if err != nil {
			return nil, fmt.Errorf("list queued runs of %s/%s: %w", owner, repo, c.done(owner, repo, id, err))
		}
		for _, run := range runs.WorkflowRuns {
			if runsSeen >= limit || len(out) >= limit {
				return out, nil
			}
			runsSeen++
			jobs, err := c.queuedJobsOfRun(ctx, gh, owner, repo, run.GetID(), limit-len(out))
			if err != nil {
				return nil, fmt.Errorf("list queued jobs of %s/%s, run %d: %w", owner, repo, run.GetID(), c.done(owner, repo, id, err))
			}
			out = append(out, jobs...)
		}
		if len(out) >= limit || runsSeen >= limit || resp.NextPage == 0 || resp.NextPage == runOpts.Page {
			return out, nil
		}
		runOpts.Page = resp.NextPage
	}
}

// queuedJobsOfRun returns up to limit queued jobs of one run, following pages.
func (c *Client) queuedJobsOfRun(ctx context.Context, gh *github.Client, owner, repo string, runID int64, limit int) ([]Job, error) {
	var out []Job
	opts := &github.ListWorkflowJobsOptions{Filter: "latest", ListOptions: github.ListOptions{PerPage: 100}}
	for {
		jobs, resp, err := gh.Actions.ListWorkflowJobs(ctx, owner, repo, runID, opts)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs.Jobs {
			if j.GetStatus() != "queued" {
				continue
			}
			out = append(out, jobFrom(owner, repo, j))
			if len(out) >= limit {
				return out, nil
			}
		}
		if resp.NextPage == 0 || resp.NextPage == opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
