package jobs

import (
	"context"
	"fmt"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/quotas"
	"github.com/garo-dev/garo/server/store"
)

// setWaits sets the Wait of the queued jobs among items (rows are their log entries, in
// the same order): the quotas' queue, computed once, for the jobs a quota holds; the
// serving agent's report for those its policy's max_runners or its capacity holds.
func (q *Query) setWaits(ctx context.Context, rows []store.WorkflowJob, items []portalapi.Job) error {
	var queue *quotas.Queue
	loaded := false
	for i := range rows {
		j := &rows[i]
		if j.State != portalapi.JobQueued {
			continue
		}
		if !loaded && q.waits != nil {
			var err error
			if queue, err = q.waits.Queue(ctx); err != nil {
				return fmt.Errorf("place queued jobs: %w", err)
			}
			loaded = true
		}
		var place quotas.Place
		has := false
		if queue != nil {
			place, has = queue.Places[j.ID]
		}
		items[i].Wait = waitOf(j, place, has)
	}
	return nil
}

// waitOf is what holds job j: a quota (the server's place), else what its agent reported
// (waiting_for_capacity), else its policy's max_runners as the server counts it.
func waitOf(j *store.WorkflowJob, p quotas.Place, has bool) *portalapi.JobWait {
	switch {
	case has && p.Quota != nil:
		kind := "team"
		if p.Quota.Kind == store.QuotaAgentGroup {
			kind = "agent group"
		}
		reason := fmt.Sprintf("the %s quota %s of %q is full (%s); number %d of the jobs it holds", kind, p.Quota.ID, p.Quota.Subject, p.QuotaLimit, p.Position)
		if p.QuotaLimit == "queue" {
			reason = fmt.Sprintf("jobs that rank ahead wait for the room of the %s quota %s of %q; number %d of the jobs it holds", kind, p.Quota.ID, p.Quota.Subject, p.Position)
		}
		return &portalapi.JobWait{Limit: p.Limit, Position: p.Position, QuotaID: p.Quota.ID, QuotaSubject: p.Quota.Subject,
			QuotaLimit: p.QuotaLimit, Reason: reason}
	case j.AgentState == portalapi.JobWaitingForCapacity && j.AgentLimit == portalapi.WaitAgentCapacity:
		return &portalapi.JobWait{Limit: portalapi.WaitAgentCapacity, Position: j.QueuePosition,
			Reason: fmt.Sprintf("the capacity of agent %s is taken; number %d of its jobs that wait for it", j.AgentID, j.QueuePosition)}
	case j.AgentState == portalapi.JobWaitingForCapacity:
		return &portalapi.JobWait{Limit: portalapi.WaitMaxRunners, Position: j.QueuePosition,
			Reason: fmt.Sprintf("policy %s has max_runners runners; number %d in its queue", j.PolicyName, j.QueuePosition)}
	case has && p.Limit == quotas.LimitMaxRunners:
		return &portalapi.JobWait{Limit: portalapi.WaitMaxRunners, Position: p.Position,
			Reason: fmt.Sprintf("policy %s has max_runners runners; number %d in its queue", j.PolicyName, p.Position)}
	}
	return nil
}
