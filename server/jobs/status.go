package jobs

import (
	"errors"
	"fmt"
)

// GitHub's job statuses in the order a job goes through them: a job that must wait for an
// environment's deployment protection rules (required reviewers, a wait timer) is
// "waiting" first and "queued" once approved; then a runner takes it (in_progress) and
// it ends (completed). GitHub announces each step with a workflow_job delivery whose
// action names it ("the workflow_job webhook will now support a new waiting state whenever
// a job is waiting on an environment protection rule",
// https://github.blog/changelog/2022-11-22-webhook-enhancements-for-environment-protection-rules/;
// "While a job is awaiting approval, it has a status of Waiting",
// https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-deployments/reviewing-deployments).
var rank = map[string]int{"waiting": 0, "queued": 1, "in_progress": 2, "completed": 3}

// KnownAction reports whether action is a workflow_job action (or status) Garo tracks.
func KnownAction(action string) bool { _, ok := rank[action]; return ok }

// EventStatus is the status a workflow_job event puts a job in, from its action and the
// payload's workflow_job.status, whichever is further along (status may be "" or one
// Garo does not track, e.g. requested or pending: then the action decides). GitHub's own
// example of the "queued" action carries status "waiting" (@octokit/webhooks-examples,
// workflow_job, the queued example): under the reading "the action is the transition"
// the job is queued; under "the status is the truth" it is waiting. Taking the further
// one of the two is safe under both: a queued job treated as waiting would never get a
// runner, while a waiting job treated as queued costs at most one idle runner that the
// agent reaps, and the job, once approved, is served at once.
func EventStatus(action, status string) string {
	if r, ok := rank[status]; ok && r > rank[action] {
		return status
	}
	return action
}

// Advances reports whether a job whose GitHub status is from may move to to: never
// backwards (a late "waiting" after "queued", an "in_progress" after "completed"), and
// the same status again is allowed (it refreshes the job's fields). A job new to the log
// (from "") takes any known status. Reconciliation moves jobs between waiting and queued
// as GitHub reports them through this rule too.
func Advances(from, to string) bool {
	rt, ok := rank[to]
	if !ok {
		return false
	}
	rf, ok := rank[from]
	return !ok || rt >= rf
}

// ErrInvalidEvent marks a job event that cannot describe a GitHub job.
var ErrInvalidEvent = errors.New("invalid job event")

// validate checks what every event must carry: a positive job id; and labels (its
// runs-on, never null: GitHub's workflow_job schema requires the array) when it creates
// the job, since a job without labels would match every policy.
func (ev Event) validate(creates bool) error {
	switch {
	case ev.JobID <= 0:
		return fmt.Errorf("%w: job id must be positive, got %d", ErrInvalidEvent, ev.JobID)
	case ev.RunID < 0:
		return fmt.Errorf("%w: run id must not be negative, got %d", ErrInvalidEvent, ev.RunID)
	case creates && ev.Labels == nil:
		return fmt.Errorf("%w: job %d has no labels (null)", ErrInvalidEvent, ev.JobID)
	}
	return nil
}
