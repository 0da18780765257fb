// Package jobs keeps Garo's durable log of GitHub Actions jobs: it applies workflow_job
// events (from webhooks or from reconciliation) to the log in one transaction with the
// delivery that carried them, matches new jobs to a policy of their repository, and never
// lets an event that arrives out of order move a job backwards.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// Sources of a job event.
const (
	SourceWebhook   = "webhook"
	SourceReconcile = "reconcile"
)

// Outcomes of a delivery.
const (
	OutcomeProcessed = "processed" // the job log changed
	OutcomeStale     = "stale"     // an older event than what the log holds: nothing changed
	OutcomeDuplicate = "duplicate" // this delivery was processed before: nothing changed
)

// Event is what GitHub says about a job, in a workflow_job webhook or a REST answer.
type Event struct {
	Action string // queued, waiting, in_progress, completed
	// Status is workflow_job.status of a webhook ("" from reconciliation, whose Action is
	// GitHub's status): see EventStatus.
	Status       string
	JobID, RunID int64
	Owner, Repo  string
	Name         string
	WorkflowName string
	Labels       []string
	// RunnerGroup is workflow_job.runner_group_name when GitHub sends one (runs-on:
	// {group: NAME}); GitHub's docs say the runner_* fields are null while the job is
	// queued (github/docs#12083), so it is often "".
	RunnerGroup string
	Conclusion  string
	RunnerName  string
	RunnerID    int64
	HTMLURL     string
	CreatedAt   time.Time
	Source      string
}

// requestedGroup is the runner group the job asks for, as far as the event says: only a
// waiting job's runner_group_name is the group it asks for; once a runner took it, the
// field names that runner's group (the in_progress example of @octokit/webhooks-examples
// carries "my runner group" with a repository runner's labels).
func (ev Event) requestedGroup() string {
	if ev.Action == "queued" || ev.Action == "waiting" {
		return ev.RunnerGroup
	}
	return ""
}

// Delivery identifies the webhook delivery that carried an event.
type Delivery struct {
	GUID, Event, Action string
}

// Service applies job events to the store.
type Service struct {
	st        *store.Store
	log       *slog.Logger
	unmatched prometheus.Counter
	events    *prometheus.CounterVec
	batches   prometheus.Histogram
	intake    intake
}

// NewService returns the job service; its metrics are registered with reg.
func NewService(st *store.Store, log *slog.Logger, reg prometheus.Registerer) *Service {
	s := &Service{
		st:  st,
		log: log,
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_jobs_unmatched_total",
			Help: "Jobs whose labels matched no enabled policy of their repository.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_jobs_events_total",
			Help: "workflow_job events applied to the job log, by action, source and outcome.",
		}, []string{"action", "source", "outcome"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "garo_jobs_delivery_batch_size",
			Help:    "Webhook deliveries committed together in one transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
	}
	if reg != nil {
		reg.MustRegister(s.unmatched, s.events, s.batches)
	}
	return s
}

// handleOne applies ev and records the delivery, in a transaction of their own: when it
// returns nil, both are committed. A delivery seen before changes nothing
// (OutcomeDuplicate).
func (s *Service) handleOne(ctx context.Context, d Delivery, ev Event) (string, *store.WorkflowJob, error) {
	var outcome string
	var job *store.WorkflowJob
	// The delivery is recorded last, with its outcome: one statement fewer than recording
	// it first and its outcome after (issue 15). A concurrent duplicate then fails on
	// that insert, and its transaction, whatever it applied, rolls back.
	err := s.retryCreateRace(ctx, func(tx *store.Store) error {
		var err error
		outcome, job, err = s.apply(ctx, txLog{tx}, ev)
		if err != nil {
			return err
		}
		return tx.RecordDelivery(ctx, &store.WebhookDelivery{GUID: d.GUID, Event: d.Event, Action: d.Action, JobID: ev.JobID, Outcome: outcome})
	})
	if errors.Is(err, store.ErrAlreadyExists) && s.isDuplicate(ctx, d.GUID) {
		s.events.WithLabelValues(ev.Action, ev.Source, OutcomeDuplicate).Inc()
		return OutcomeDuplicate, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("apply %s delivery %s: %w", d.Event, d.GUID, err)
	}
	s.events.WithLabelValues(ev.Action, ev.Source, outcome).Inc()
	return outcome, job, nil
}

// Apply applies ev without a delivery (reconciliation).
func (s *Service) Apply(ctx context.Context, ev Event) (string, *store.WorkflowJob, error) {
	var outcome string
	var job *store.WorkflowJob
	err := s.retryCreateRace(ctx, func(tx *store.Store) error {
		var err error
		outcome, job, err = s.apply(ctx, txLog{tx}, ev)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("apply %s of job %d: %w", ev.Action, ev.JobID, err)
	}
	s.events.WithLabelValues(ev.Action, ev.Source, outcome).Inc()
	return outcome, job, nil
}

// retryCreateRace runs fn in a transaction and runs it again when it lost the race to
// create a job (two events of a new job at once): the second run finds the row.
func (s *Service) retryCreateRace(ctx context.Context, fn func(tx *store.Store) error) error {
	for attempt := 0; ; attempt++ {
		err := s.st.Tx(ctx, fn)
		if !errors.Is(err, errJobCreateRace) || attempt == 2 {
			return err
		}
	}
}

var errJobCreateRace = errors.New("job created concurrently")

func (s *Service) isDuplicate(ctx context.Context, guid string) bool {
	_, err := s.st.GetDelivery(ctx, guid)
	return err == nil
}

// jobLog is what apply reads and writes: a transaction (txLog), or a batch of deliveries
// applied in one (batchLog).
type jobLog interface {
	Now() time.Time
	GetJob(ctx context.Context, id int64, forUpdate bool) (*store.WorkflowJob, error)
	// EnabledPolicies are the enabled policies of the repository repoKey.
	EnabledPolicies(ctx context.Context, repoKey string) ([]store.Policy, error)
	CreateJob(ctx context.Context, j *store.WorkflowJob) error
	SaveJob(ctx context.Context, j *store.WorkflowJob) error
	MarkRan(ctx context.Context, name, repoKey string) error
	GetRunner(ctx context.Context, name string) (*store.Runner, error)
	EndUsageIfGone(ctx context.Context, names []string) error
}

// txLog is the job log of a transaction.
type txLog struct{ *store.Store }

func (t txLog) EnabledPolicies(ctx context.Context, repoKey string) ([]store.Policy, error) {
	enabled := true
	policies, _, err := t.ListPolicies(ctx, store.PolicyFilter{RepoKey: repoKey, Enabled: &enabled, Limit: 500})
	return policies, err
}

// apply moves the job of ev forward in tx.
func (s *Service) apply(ctx context.Context, tx jobLog, ev Event) (string, *store.WorkflowJob, error) {
	if !KnownAction(ev.Action) {
		return "", nil, fmt.Errorf("%w: unknown workflow_job action %q", ErrInvalidEvent, ev.Action)
	}
	if err := ev.validate(false); err != nil {
		return "", nil, err
	}
	ev.Action = EventStatus(ev.Action, ev.Status)
	now := tx.Now()
	job, err := tx.GetJob(ctx, ev.JobID, true)
	if errors.Is(err, store.ErrNotFound) {
		if err := ev.validate(true); err != nil {
			return "", nil, err
		}
		job, err = s.newJob(ctx, tx, ev, now)
		if err != nil {
			return "", nil, err
		}
		if err := runnerSeen(ctx, tx, job); err != nil {
			return "", nil, err
		}
		if err := tx.CreateJob(ctx, job); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return "", nil, errJobCreateRace
			}
			return "", nil, err
		}
		s.logJob(job, ev, "job recorded")
		return OutcomeProcessed, job, nil
	}
	if err != nil {
		return "", nil, err
	}
	if !Advances(job.GitHubStatus, ev.Action) {
		s.log.Debug("stale job event ignored", "job_id", job.ID, "repo", job.RepoKey, "action", ev.Action, "status", job.GitHubStatus)
		return OutcomeStale, job, nil
	}
	advance(job, ev, now)
	if err := runnerSeen(ctx, tx, job); err != nil {
		return "", nil, err
	}
	if err := tx.SaveJob(ctx, job); err != nil {
		return "", nil, err
	}
	if job.RunnerName != "" && job.GitHubStatus == "completed" {
		// A runner that ran between two heartbeats of its agent stops counting against
		// quotas with its job: its usage ends.
		if err := tx.EndUsageIfGone(ctx, []string{job.RunnerName}); err != nil {
			return "", nil, err
		}
	}
	s.logJob(job, ev, "job updated")
	return OutcomeProcessed, job, nil
}

// runnerSeen records what a job event says of its runner: when it came online, and that
// it ran (struck off the runners the server minted but never saw started, issue 14).
func runnerSeen(ctx context.Context, tx jobLog, job *store.WorkflowJob) error {
	if job.RunnerName != "" && (job.GitHubStatus == "in_progress" || job.GitHubStatus == "completed") {
		if err := tx.MarkRan(ctx, job.RunnerName, job.RepoKey); err != nil {
			return err
		}
	}
	return runnerOnline(ctx, tx, job)
}

// runnerOnline stamps the runner_online step of a job that a runner has taken, from when
// the runner's agent first saw it running (its last heartbeat), when the runner is known.
func runnerOnline(ctx context.Context, tx jobLog, job *store.WorkflowJob) error {
	if job.RunnerName == "" || job.RunnerOnlineAt != nil || job.InProgressAt == nil {
		return nil
	}
	r, err := tx.GetRunner(ctx, job.RunnerName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case r.RepoKey == job.RepoKey && r.RunningSince != nil:
		at := r.RunningSince.UTC()
		job.RunnerOnlineAt = &at
	}
	return nil
}

// newJob builds the log entry of a job seen for the first time, matched to a policy.
func (s *Service) newJob(ctx context.Context, tx jobLog, ev Event, now time.Time) (*store.WorkflowJob, error) {
	key := store.RepoKey(ev.Owner, ev.Repo)
	policies, err := tx.EnabledPolicies(ctx, key)
	if err != nil {
		return nil, err
	}
	job := &store.WorkflowJob{
		ID: ev.JobID, RunID: ev.RunID, Owner: ev.Owner, Repo: ev.Repo, RepoKey: key,
		Name: ev.Name, WorkflowName: ev.WorkflowName, Labels: append(store.StringList{}, ev.Labels...),
		Source: ev.Source, ReceivedAt: now,
	}
	if !ev.CreatedAt.IsZero() {
		created := ev.CreatedAt.UTC()
		job.GitHubCreatedAt = &created
	}
	if p, reason := MatchGroup(ev.requestedGroup(), ev.Labels, policies); p != nil {
		job.PolicyID, job.PolicyName, job.MatchedAt = p.ID, p.Name, &now
	} else {
		job.UnmatchedReason = reason
		if !GitHubHosted(ev.Labels) {
			s.unmatched.Inc()
		}
	}
	advance(job, ev, now)
	return job, nil
}

// advance applies ev's status to job, stamping the time of each step once.
func advance(job *store.WorkflowJob, ev Event, now time.Time) {
	job.GitHubStatus = ev.Action
	if ev.Conclusion != "" {
		job.Conclusion = ev.Conclusion
	}
	if ev.RunnerName != "" {
		job.RunnerName, job.RunnerID = ev.RunnerName, ev.RunnerID
	}
	if ev.HTMLURL != "" {
		job.HTMLURL = ev.HTMLURL
	}
	stamp := func(t **time.Time) {
		if *t == nil {
			*t = &now
		}
	}
	switch ev.Action {
	case "in_progress":
		stamp(&job.InProgressAt)
	case "completed":
		stamp(&job.CompletedAt)
	}
	job.State = stateOf(job)
}

// stateOf derives Garo's state of a job from GitHub's status and the match.
func stateOf(job *store.WorkflowJob) string {
	switch job.GitHubStatus {
	case "in_progress":
		return portalapi.JobInProgress
	case "completed":
		return portalapi.JobCompleted
	}
	if job.PolicyID == "" {
		return portalapi.JobUnmatched
	}
	if job.GitHubStatus == "waiting" {
		return portalapi.JobWaiting
	}
	return portalapi.JobQueued
}

func (s *Service) logJob(job *store.WorkflowJob, ev Event, msg string) {
	attrs := []any{"job_id", job.ID, "repo", job.RepoKey, "action", ev.Action, "state", job.State, "source", ev.Source}
	if job.PolicyName != "" {
		attrs = append(attrs, "policy", job.PolicyName)
	}
	level := slog.LevelInfo
	if job.State == portalapi.JobUnmatched {
		attrs = append(attrs, "labels", strings.Join(job.Labels, ","), "reason", job.UnmatchedReason)
		if GitHubHosted(job.Labels) {
			level = slog.LevelDebug // a GitHub-hosted job: not ours, not news
		}
	}
	s.log.Log(context.Background(), level, msg, attrs...)
}

// Rematch gives the unmatched jobs of a repository that are still waiting on GitHub
// another chance, after a policy was created or changed. It returns how many found one.
func (s *Service) Rematch(ctx context.Context, repoKey string) (int, error) {
	open, _, err := s.st.ListJobs(ctx, store.JobFilter{RepoKey: repoKey, State: portalapi.JobUnmatched, Limit: 500})
	if err != nil || len(open) == 0 {
		return 0, err
	}
	enabled := true
	policies, _, err := s.st.ListPolicies(ctx, store.PolicyFilter{RepoKey: repoKey, Enabled: &enabled, Limit: 500})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range open {
		if j.GitHubStatus != "queued" && j.GitHubStatus != "waiting" {
			continue
		}
		p, _ := Match(j.Labels, policies)
		if p == nil {
			continue
		}
		err := s.st.Tx(ctx, func(tx *store.Store) error {
			job, err := tx.GetJob(ctx, j.ID, true)
			if err != nil || job.PolicyID != "" {
				return err
			}
			now := tx.Now()
			job.PolicyID, job.PolicyName, job.MatchedAt, job.UnmatchedReason = p.ID, p.Name, &now, ""
			job.State = stateOf(job)
			return tx.SaveJob(ctx, job)
		})
		if err != nil {
			return n, fmt.Errorf("rematch job %d: %w", j.ID, err)
		}
		n++
		s.log.Info("matched a waiting job to a new policy", "job_id", j.ID, "repo", repoKey, "policy", p.Name)
	}
	return n, nil
}
