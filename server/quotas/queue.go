package quotas

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/queue"
	"github.com/garo-dev/garo/shared/spec"
)

// Limits that hold a queued job on the server's side (Place.Limit). The agent's own
// (protocol.LimitMaxRunners as it counts, protocol.LimitAgentCapacity) come in its
// heartbeats.
const (
	LimitMaxRunners = protocol.LimitMaxRunners
	LimitTeamQuota  = "team_quota"  // a quota of kind owner_prefix
	LimitGroupQuota = "group_quota" // a quota of kind agent_group
)

// Place is where one queued job stands in the server's queue.
type Place struct {
	// Admitted: the quotas that cover it have room for its runner now (or none covers
	// it); the next runner its agent asks for is minted.
	Admitted bool
	// Covered: admitted because a runner of its policy that runs no job is there for it.
	Covered bool
	// Limit holds it when not admitted: LimitMaxRunners (its policy has as many runners
	// as it may), LimitTeamQuota or LimitGroupQuota (Quota names which, QuotaLimit which
	// of its limits: max_runners, cpu or memory).
	Limit      string
	Quota      *store.Quota
	QuotaLimit string
	// Position is its 1-based place among the jobs that Limit (that quota, or its
	// policy's max_runners) holds, in the order they get runners.
	Position int
}

// Queue is the server's order of the queued jobs when quotas are short: which get
// runners now, and where the others stand. It is a pure function of the store's state
// at one moment: admission (Admit) and the portal (jobs' wait) read the same.
type Queue struct {
	Places map[int64]Place
	// rest is what every quota has left once the admitted jobs are served, and closed
	// the quotas that hold a job back: a runner for no admitted job (min_idle) gets
	// room only where nothing waits.
	rest   map[string]room
	closed map[string]string // quota id → the limit that first held a job back
}

type room struct{ runners, cpu, mem int64 }

// Build computes the queue from the quotas, the live runners and the queued jobs, at now,
// with scheduling.max_wait maxWait.
//
//   - A policy's jobs are served oldest first, and the first of them are covered by its
//     runners that do not run a job (GitHub gives the oldest job to the next runner that
//     asks). Of the rest, as many as its max_runners leaves room for contend for the
//     quotas; the others wait for the policy (LimitMaxRunners).
//   - A job its agent reports held by the agent itself (waiting_for_capacity), or that no
//     agent can serve (no_agent), does not contend: its agent will not ask for it.
//   - The contenders are served in the order of shared/queue (past max_wait first, then
//     priority, then age). Each takes room in every quota that covers it. One that does
//     not fit in a quota is held by it, and so is every later one that quota covers, so
//     that small jobs do not pass a large one for ever.
//
// The job asking (0: none) is the one whose agent asks for a runner now: it contends
// whatever its agent reported of it before, and whatever its policy's runners look like
// on the server's side (the agent knows them better).
func Build(qs []store.Quota, live liveSet, jobs []store.QueuedJob, now time.Time, maxWait time.Duration, asking int64) (*Queue, error) {
	q := &Queue{Places: make(map[int64]Place, len(jobs)), rest: map[string]room{}, closed: map[string]string{}}
	for i := range qs {
		u := live.usage(&qs[i])
		q.rest[qs[i].ID] = room{runners: u.Runners, cpu: u.CPUMilli, mem: u.MemoryBytes}
	}
	type pkey struct{ repo, policy string }
	held, idle := map[pkey]int{}, map[pkey]int{}
	for _, r := range live {
		k := pkey{r.repoKey, r.policy}
		switch r.state {
		case string(protocol.RunnerFinished), string(protocol.RunnerFailed):
			// on its way out: it still counts against quotas, not against its policy
		case string(protocol.RunnerBusy):
			held[k]++
		default:
			held[k]++
			idle[k]++
		}
	}
	type cand struct {
		job      store.QueuedJob
		cpu, mem int64
		e        queue.Entry
	}
	var cands []cand
	seen := map[pkey]int{}
	for _, j := range jobs { // oldest first
		k := pkey{j.RepoKey, j.Policy}
		i := seen[k]
		seen[k]++
		switch {
		case j.ID == asking && asking != 0:
		case i < idle[k]:
			q.Places[j.ID] = Place{Admitted: true, Covered: true} // a runner of its policy is there for it
			continue
		case i-idle[k]-(j.MaxRunners-held[k])+1 > 0:
			q.Places[j.ID] = Place{Limit: LimitMaxRunners, Position: i - idle[k] - (j.MaxRunners - held[k]) + 1}
			continue
		case j.AgentState == protocol.JobWaitingForCapacity || j.AgentState == noAgent:
			continue
		}
		var rs spec.RunnerSpec
		if len(j.RunnerSpec) > 0 {
			if err := json.Unmarshal(j.RunnerSpec, &rs); err != nil {
				return nil, fmt.Errorf("decode runner spec of policy %s of %s: %w", j.Policy, j.RepoKey, err)
			}
		}
		cpu, mem := guardrails.Requests(rs)
		cands = append(cands, cand{job: j, cpu: cpu, mem: mem, e: queue.Entry{ID: j.ID, Priority: j.Priority, ReceivedAt: j.ReceivedAt}})
	}
	slices.SortFunc(cands, func(a, b cand) int { return queue.Compare(a.e, b.e, now, maxWait) })
	// Team quotas first: when both hold a job, the team's is the one it names.
	order := slices.Clone(qs)
	slices.SortStableFunc(order, func(a, b store.Quota) int {
		return cmp.Compare(kindRank(a.Kind), kindRank(b.Kind))
	})
	positions := map[string]int{}
	for _, c := range cands {
		var blocked *store.Quota
		var which string
		var covering []*store.Quota
		for i := range order {
			qu := &order[i]
			if !covers(qu, c.job.AgentGroup, c.job.RepoKey) {
				continue
			}
			covering = append(covering, qu)
			if lim := q.fits(qu, c.cpu, c.mem); lim != "" && blocked == nil {
				blocked, which = qu, lim
			}
		}
		if blocked != nil {
			for _, qu := range covering {
				if lim := q.fits(qu, c.cpu, c.mem); lim != "" && q.closed[qu.ID] == "" {
					q.closed[qu.ID] = lim
				}
			}
			if which == "queue" {
				which = q.closed[blocked.ID] // what held the first job it holds
			}
			positions[blocked.ID]++
			limit := LimitGroupQuota
			if blocked.Kind == store.QuotaOwnerPrefix {
				limit = LimitTeamQuota
			}
			q.Places[c.job.ID] = Place{Limit: limit, Quota: blocked, QuotaLimit: which, Position: positions[blocked.ID]}
			continue
		}
		for _, qu := range covering {
			r := q.rest[qu.ID]
			q.rest[qu.ID] = room{runners: r.runners + 1, cpu: r.cpu + c.cpu, mem: r.mem + c.mem}
		}
		q.Places[c.job.ID] = Place{Admitted: true}
	}
	return q, nil
}

// noAgent is the job state the server sets when no agent can serve a job
// (portalapi.JobNoAgent).
const noAgent = "no_agent"

func kindRank(kind string) int {
	if kind == store.QuotaOwnerPrefix {
		return 0
	}
	return 1
}

// fits says which limit of qu one more runner of cpu and mem would pass, "" when none;
// "queue" when qu has room but holds an earlier job back.
func (q *Queue) fits(qu *store.Quota, cpu, mem int64) string {
	u := q.rest[qu.ID]
	switch {
	case q.closed[qu.ID] != "":
		return "queue"
	case qu.MaxRunners != nil && u.runners+1 > *qu.MaxRunners:
		return "max_runners"
	case qu.MaxCPUMilli != nil && cpu > 0 && u.cpu+cpu > *qu.MaxCPUMilli:
		return "cpu"
	case qu.MaxMemoryBytes != nil && mem > 0 && u.mem+mem > *qu.MaxMemoryBytes:
		return "memory"
	}
	return ""
}

// Load builds the queue from st at now.
func Load(ctx context.Context, st *store.Store, qs []store.Quota, now time.Time, maxWait time.Duration, asking int64) (*Queue, error) {
	live, err := liveOf(ctx, st)
	if err != nil {
		return nil, err
	}
	jobs, err := st.QueuedJobs(ctx)
	if err != nil {
		return nil, err
	}
	return Build(qs, live, jobs, now, maxWait, asking)
}
