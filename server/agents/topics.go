package agents

import (
	"context"

	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/store"
)

// Topics of wake-ups (see server/notify). Held config polls listen on their agent, their
// group, their group's settle topic and the policies of the repositories they own; held
// jobs polls on the same and on the job log of the repositories they own.

// TopicAgent is published when the agent's ownership changes or it is revoked.
func TopicAgent(id string) string { return "agent:" + id }

// TopicGroup is published when what every agent of the group is served may change (its
// constraints): every held poll of the group looks again.
func TopicGroup(group string) string { return "group:" + group }

// TopicSettle is published when the ownership of the group's repositories may need
// settling: a policy of the group was written (a repository may need an owner), an agent
// of the group registered, or one let its repositories go (unregistered, revoked). The held
// polls of the group settle it once (hold) and do not look unless it moved something.
func TopicSettle(group string) string { return "settle:" + group }

// TopicPolicies is published when a policy of the repository is written.
func TopicPolicies(repoKey string) string { return "policies:" + repoKey }

// TopicJobs is published when the job log of the repository changes.
func TopicJobs(repoKey string) string { return "jobs:" + repoKey }

// PolicyTopics are the topics a write of a policy of repoKey publishes; groups are the
// agent groups the policy names before and after the write, as far as the writer knows.
// The owner of the repository listens on TopicPolicies, so a policy that leaves its group
// still reaches it; the groups' settle topics find the repository an owner if it needs one.
func PolicyTopics(repoKey string, groups ...string) []string {
	out := []string{TopicPolicies(repoKey)}
	seen := map[string]bool{}
	for _, g := range groups {
		if g != "" && !seen[g] {
			seen[g] = true
			out = append(out, TopicSettle(g))
		}
	}
	return out
}

// jobLog is the job service as the webhook handler and the catch-up loops use it.
type jobLog interface {
	HandleDelivery(ctx context.Context, d jobs.Delivery, ev jobs.Event) (string, *store.WorkflowJob, error)
	Apply(ctx context.Context, ev jobs.Event) (string, *store.WorkflowJob, error)
	Rematch(ctx context.Context, repoKey string) (int, error)
}

// JobLog is a job log that wakes the jobs polls of a repository whenever it changes one of
// its jobs. It keeps server/jobs free of notifications.
type JobLog struct {
	inner jobLog
	pub   notify.Publisher
}

// NotifyingJobLog wraps inner so that its changes are published on pub.
func NotifyingJobLog(inner jobLog, pub notify.Publisher) *JobLog {
	return &JobLog{inner: inner, pub: pub}
}

// HandleDelivery applies a webhook delivery and publishes the change.
func (l *JobLog) HandleDelivery(ctx context.Context, d jobs.Delivery, ev jobs.Event) (string, *store.WorkflowJob, error) {
	outcome, job, err := l.inner.HandleDelivery(ctx, d, ev)
	l.changed(ctx, outcome, job, err)
	return outcome, job, err
}

// Apply applies an event without a delivery and publishes the change.
func (l *JobLog) Apply(ctx context.Context, ev jobs.Event) (string, *store.WorkflowJob, error) {
	outcome, job, err := l.inner.Apply(ctx, ev)
	l.changed(ctx, outcome, job, err)
	return outcome, job, err
}

// Rematch matches the repository's unmatched jobs again and publishes when any matched.
func (l *JobLog) Rematch(ctx context.Context, repoKey string) (int, error) {
	n, err := l.inner.Rematch(ctx, repoKey)
	if n > 0 {
		l.pub.Publish(ctx, TopicJobs(repoKey))
	}
	return n, err
}

func (l *JobLog) changed(ctx context.Context, outcome string, job *store.WorkflowJob, err error) {
	if err == nil && outcome == jobs.OutcomeProcessed && job != nil {
		l.pub.Publish(ctx, TopicJobs(job.RepoKey))
	}
}

// PolicyChanged wakes the polls that a write of a policy of repoKey concerns; groups are
// the agent groups the policy names, as far as the writer knows.
func (s *Service) PolicyChanged(ctx context.Context, repoKey string, groups ...string) {
	s.forgetSettledUnwatched("") // a policy's group may be one the writer does not know of (it moved)
	s.publish(ctx, PolicyTopics(repoKey, groups...)...)
	for _, g := range groups {
		s.recountViolations(ctx, g, false)
	}
}
