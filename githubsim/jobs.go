package githubsim

// Workflow runs and jobs: queueing, cancelling and reading them.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// QueueJob creates a workflow run with one job (status queued) on repo and delivers
// workflow_job "queued". Runners can pick the job up once that delivery was attempted.
// A delivery that could not be sent (no answer) returns the job together with an error
// wrapping ErrDeliveryFailed: the job exists anyway, as on GitHub.
func (s *Sim) QueueJob(ctx context.Context, repo string, labels []string) (Job, error) {
	js, err := s.createJob(repo, labels, false)
	if err != nil {
		return Job{}, err
	}
	return s.announceJob(ctx, js, repo)
}

// announceJob delivers workflow_job "queued" for js and then offers it to runners.
func (s *Sim) announceJob(ctx context.Context, js *jobState, repo string) (Job, error) {
	payload, job := s.jobEvent(js.id, "queued")
	_, derr := s.deliver(ctx, "workflow_job", payload, newGUID(), false)
	s.mu.Lock()
	js.assignable = true
	s.broadcastLocked()
	s.mu.Unlock()
	if derr != nil {
		return job, fmt.Errorf("queue job %d on %s: %w", job.ID, repo, derr)
	}
	return job, nil
}

// QueueJobQuietly is QueueJob without the webhook: a delivery GitHub lost.
func (s *Sim) QueueJobQuietly(repo string, labels []string) (Job, error) {
	js, err := s.createJob(repo, labels, true)
	if err != nil {
		return Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return js.public(), nil
}

func (s *Sim) createJob(repo string, labels []string, assignable bool) (*jobState, error) {
	return s.createJobIn(repo, "", labels, assignable)
}

// createJobIn creates a job asking for labels and, when group is not "", runner group
// group; a job needs a label or a group.
func (s *Sim) createJobIn(repo, group string, labels []string, assignable bool) (*jobState, error) {
	if len(labels) == 0 && group == "" {
		return nil, fmt.Errorf("queue job on %s: a job needs at least one label", repo)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repoLocked(repo)
	if !ok {
		return nil, fmt.Errorf("queue job on %s: %w", repo, ErrUnknownRepository)
	}
	if labels == nil {
		labels = []string{} // GitHub's labels are an array, empty for runs-on: {group: NAME}
	}
	js := s.addJobLocked(s.newRunLocked(r), "build", labels)
	js.assignable = assignable
	js.group = group
	if assignable {
		s.broadcastLocked()
	}
	return js, nil
}

// CancelJob cancels a queued or running job, as a user pressing "Cancel workflow" would,
// and delivers workflow_job "completed" with conclusion cancelled. A runner running the
// job stays busy until it reports completion. Cancelling a completed job changes nothing.
func (s *Sim) CancelJob(ctx context.Context, id int64) (Job, error) {
	s.mu.Lock()
	js, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		return Job{}, fmt.Errorf("cancel job %d: %w", id, ErrUnknownJob)
	}
	if js.status == "completed" {
		defer s.mu.Unlock()
		return js.public(), nil
	}
	if js.runnerID != 0 {
		js.cancelledBy = true
	}
	s.completeJobLocked(js, "cancelled")
	s.mu.Unlock()
	payload, job := s.jobEvent(id, "completed")
	_, err := s.deliver(ctx, "workflow_job", payload, newGUID(), false)
	s.afterComplete(ctx, s.jobRun(id))
	if err != nil {
		return job, fmt.Errorf("cancel job %d: %w", id, err)
	}
	return job, nil
}

func (s *Sim) completeJobLocked(js *jobState, conclusion string) {
	now := s.opts.Now().UTC().Truncate(time.Second)
	js.run.repo.dequeueLocked(js)
	js.status = "completed"
	js.conclusion = conclusion
	js.completed = now
	js.run.updated = now
	s.broadcastLocked()
}

// jobRun returns the run of job id (which exists).
func (s *Sim) jobRun(id int64) *runState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id].run
}

// Job returns a snapshot of job id.
func (s *Sim) Job(id int64) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	js, ok := s.jobs[id]
	if !ok {
		return Job{}, false
	}
	return js.public(), true
}

// Jobs returns the jobs of repo ("" for every repository), oldest first.
func (s *Sim) Jobs(repo string) []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Job
	for _, js := range s.jobsLocked(repo) {
		out = append(out, js.public())
	}
	return out
}

func (s *Sim) jobsLocked(repo string) []*jobState {
	var out []*jobState
	for _, js := range s.jobs {
		if repo == "" || strings.EqualFold(js.run.repo.fullName, repo) {
			out = append(out, js)
		}
	}
	slices.SortFunc(out, func(a, b *jobState) int { return cmpInt64(a.id, b.id) })
	return out
}

func (js *jobState) public() Job {
	return Job{
		ID:              js.id,
		RunID:           js.run.id,
		Repo:            js.run.repo.fullName,
		Name:            js.name,
		WorkflowName:    js.run.workflowNam,
		HeadBranch:      "main",
		HeadSHA:         js.run.headSHA,
		RunAttempt:      1,
		Labels:          slices.Clone(js.labels),
		RunnerGroup:     js.group,
		Status:          js.status,
		Conclusion:      js.conclusion,
		RunnerID:        js.runnerID,
		RunnerName:      js.runnerName,
		RunnerGroupID:   js.runnerGroupID,
		RunnerGroupName: js.runnerGroupName,
		CreatedAt:       js.created,
		StartedAt:       js.started,
		CompletedAt:     js.completed,
		RunnerOnlineAt:  js.runnerOnline,
	}
}
