package jobs

import (
	"context"
	"strconv"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/quotas"
	"github.com/garo-dev/garo/server/store"
)

// Query reads the job log for the portal.
type Query struct {
	st    *store.Store
	waits QueueReader
}

// QueueReader is the part of the quota service that says where queued jobs stand
// (server/quotas).
type QueueReader interface {
	Queue(ctx context.Context) (*quotas.Queue, error)
}

// NewQuery returns the job log reader on st; waits (nil: none) places queued jobs in the
// quotas' queue.
func NewQuery(st *store.Store, waits QueueReader) *Query { return &Query{st: st, waits: waits} }

// States a job list may filter on.
var states = map[string]bool{
	portalapi.JobQueued: true, portalapi.JobWaiting: true, portalapi.JobUnmatched: true,
	portalapi.JobInProgress: true, portalapi.JobCompleted: true,
}

// ValidState reports whether s is a job state.
func ValidState(s string) bool { return states[s] }

// ListFilter selects jobs; see store.JobFilter. Cursor is the opaque next_cursor.
type ListFilter struct {
	RepoKey, OwnerKey, State, Policy string
	Since                            time.Time
	OwnerPrefixes                    []string
	Cursor                           string
	Limit                            int
}

// List returns one page of jobs, newest first.
func (q *Query) List(ctx context.Context, f ListFilter) (*portalapi.JobList, error) {
	sf := store.JobFilter{
		RepoKey: f.RepoKey, OwnerKey: f.OwnerKey, State: f.State, PolicyName: f.Policy,
		Since: f.Since, OwnerPrefixes: f.OwnerPrefixes, Limit: f.Limit,
	}
	if f.Cursor != "" {
		id, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || id < 1 {
			return nil, portalapi.Invalid("cursor", "is not a cursor this server handed out")
		}
		sf.BeforeID = id
	}
	rows, more, err := q.st.ListJobs(ctx, sf)
	if err != nil {
		return nil, err
	}
	out := &portalapi.JobList{Items: make([]portalapi.Job, 0, len(rows))}
	for i := range rows {
		out.Items = append(out.Items, ToAPI(&rows[i]))
	}
	if err := q.setWaits(ctx, rows, out.Items); err != nil {
		return nil, err
	}
	if more {
		out.NextCursor = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	return out, nil
}

// Get returns the job id of repository repoKey (store.ErrNotFound for another repository's).
func (q *Query) Get(ctx context.Context, repoKey string, id int64) (*portalapi.Job, error) {
	j, err := q.st.GetJob(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if j.RepoKey != repoKey {
		return nil, store.ErrNotFound
	}
	out := ToAPI(j)
	items := []portalapi.Job{out}
	if err := q.setWaits(ctx, []store.WorkflowJob{*j}, items); err != nil {
		return nil, err
	}
	return &items[0], nil
}

// ToAPI maps a log entry to its wire form with its timeline in order.
func ToAPI(j *store.WorkflowJob) portalapi.Job {
	labels := []string(j.Labels)
	if labels == nil {
		labels = []string{}
	}
	out := portalapi.Job{
		ID: j.ID, RunID: j.RunID, Repository: j.Repository(), Name: j.Name, WorkflowName: j.WorkflowName,
		Labels: labels, State: j.State, GitHubStatus: j.GitHubStatus, Conclusion: j.Conclusion,
		Policy: j.PolicyName, UnmatchedReason: j.UnmatchedReason, RunnerName: j.RunnerName,
		HTMLURL: j.HTMLURL, Source: j.Source, ReceivedAt: j.ReceivedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(),
		Timeline: []portalapi.JobEvent{},
	}
	if j.State == portalapi.JobQueued || j.State == portalapi.JobWaiting {
		// The serving agent's view matters only until a runner takes the job.
		out.AgentState, out.QueuePosition, out.AgentID = j.AgentState, j.QueuePosition, j.AgentID
		out.AgentReason = j.AgentReason
		if j.AgentRetryAt != nil {
			at := j.AgentRetryAt.UTC()
			out.AgentRetryAt = &at
		}
	}
	add := func(step string, t *time.Time) {
		if t != nil {
			out.Timeline = append(out.Timeline, portalapi.JobEvent{Step: step, At: t.UTC()})
		}
	}
	add("created", j.GitHubCreatedAt)
	add("received", &j.ReceivedAt)
	add("matched", j.MatchedAt)
	add("runner_requested", j.RunnerRequestedAt)
	add("runner_online", j.RunnerOnlineAt)
	add("in_progress", j.InProgressAt)
	add("completed", j.CompletedAt)
	return out
}
