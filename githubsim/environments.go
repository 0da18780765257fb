package githubsim

// Environments with required reviewers: a job that references one waits for approval.
//
// GitHub: "Jobs that reference an environment configured with required reviewers will
// wait for an approval before starting. While a job is awaiting approval, it has a status
// of Waiting" (https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-deployments/reviewing-deployments),
// and "the workflow_job webhook will now support a new waiting state whenever a job is
// waiting on an environment protection rule"
// (https://github.blog/changelog/2022-11-22-webhook-enhancements-for-environment-protection-rules/).
// The webhook description has both workflow-job-waiting and workflow-job-queued; once the
// job is approved GitHub queues it for a runner and sends workflow_job queued.

import (
	"context"
	"fmt"
	"slices"
)

// QueueJobForEnvironment creates a workflow run with one job that references an
// environment with required reviewers: the job is "waiting", no runner is offered it, and
// workflow_job "waiting" is delivered. ApproveJob lets it go on.
func (s *Sim) QueueJobForEnvironment(ctx context.Context, repo string, labels []string) (Job, error) {
	js, err := s.createJob(repo, labels, false)
	if err != nil {
		return Job{}, err
	}
	s.mu.Lock()
	js.status = "waiting"
	js.run.repo.dequeueLocked(js)
	s.broadcastLocked()
	s.mu.Unlock()
	payload, job := s.jobEvent(js.id, "waiting")
	if _, err := s.deliver(ctx, "workflow_job", payload, newGUID(), false); err != nil {
		return job, fmt.Errorf("queue job %d for an environment on %s: %w", job.ID, repo, err)
	}
	return job, nil
}

// ApproveJob approves a waiting job ("Approve and deploy"): it becomes queued, GitHub
// sends workflow_job "queued", and runners are offered the job once that delivery was
// attempted (so that hooks stay in order). A job that is not waiting is left as it is
// and returned with no delivery.
func (s *Sim) ApproveJob(ctx context.Context, id int64) (Job, error) {
	s.mu.Lock()
	js, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		return Job{}, fmt.Errorf("approve job %d: %w", id, ErrUnknownJob)
	}
	if js.status != "waiting" {
		defer s.mu.Unlock()
		return js.public(), nil
	}
	s.mu.Unlock()
	// GitHub's own example of the queued action (@octokit/webhooks-examples, workflow_job,
	// a self-hosted job of lineville/elastic-machines-testing) carries workflow_job.status
	// "waiting": the payload is taken before the status changes, as that example shows.
	payload, _ := s.jobEvent(id, "queued")
	s.mu.Lock()
	if js.status != "waiting" { // approved or cancelled meanwhile
		defer s.mu.Unlock()
		return js.public(), nil
	}
	js.status = "queued"
	js.assignable = false
	q := &js.run.repo.queue
	i, _ := slices.BinarySearchFunc(*q, js.id, func(a *jobState, id int64) int { return cmpInt64(a.id, id) })
	*q = slices.Insert(*q, i, js) // the queue stays oldest first
	job := js.public()
	s.mu.Unlock()
	_, derr := s.deliver(ctx, "workflow_job", payload, newGUID(), false)
	s.mu.Lock()
	js.assignable = true
	s.broadcastLocked()
	s.mu.Unlock()
	if derr != nil {
		return job, fmt.Errorf("approve job %d: %w", id, derr)
	}
	return job, nil
}

// SendLateWaiting delivers workflow_job "waiting" for job id again, as it is now: a
// delivery that arrives after the job moved on (GitHub does not promise order; a
// redelivery of the old waiting delivery reads the same way).
func (s *Sim) SendLateWaiting(ctx context.Context, id int64) error {
	s.mu.Lock()
	_, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("late waiting of job %d: %w", id, ErrUnknownJob)
	}
	payload, _ := s.jobEvent(id, "waiting")
	if _, err := s.deliver(ctx, "workflow_job", payload, newGUID(), false); err != nil {
		return fmt.Errorf("late waiting of job %d: %w", id, err)
	}
	return nil
}
