package quotas

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/spec"
)

// ErrQuotaFull is wrapped by a FullError: a quota has no room for one more runner. It is
// the agent protocol's sentinel, so that the agent hears 409 quota_full.
var ErrQuotaFull = protocol.ErrQuotaFull

// FullError names the quota that holds a runner back and the limit it reached.
type FullError struct {
	QuotaID string
	Kind    string
	Subject string
	// Limit is "max_runners", "cpu" or "memory"; "queue" when the quota has room but
	// jobs that rank ahead of this runner's (Queue) wait for it.
	Limit string
	// Position is the runner's job's 1-based place among the jobs the quota holds (0 for
	// a runner for no job in particular).
	Position int
}

func (e *FullError) Error() string {
	if e.Limit == "queue" {
		return fmt.Sprintf("quota %s of %s %q is full (queue): jobs that rank ahead wait for its room%s", e.QuotaID, e.Kind, e.Subject, e.place())
	}
	return fmt.Sprintf("quota %s of %s %q is full (%s): no runner more until one of its runners ends%s", e.QuotaID, e.Kind, e.Subject, e.Limit, e.place())
}

func (e *FullError) place() string {
	if e.Position == 0 {
		return ""
	}
	return fmt.Sprintf("; this job is number %d in its queue", e.Position)
}

func (e *FullError) Unwrap() error { return ErrQuotaFull }

// Request is one runner to admit: the agent group of the agent that asks for it, the
// repository, the policy and its runner spec, and the job it is for (0: none, a runner
// for min_idle). Now and MaxWait order the queue (scheduling.max_wait).
type Request struct {
	AgentGroup string
	RepoKey    string
	Policy     string
	Runner     spec.RunnerSpec
	JobID      int64
	Now        time.Time
	MaxWait    time.Duration
}

// Admit decides, in tx, whether the runner of r may be born now: nil when every quota
// that covers it has room for it and no job that ranks ahead waits for that room (Queue),
// a *FullError naming the first quota that holds it otherwise. It locks the quota rows
// (store.LockQuotas) until tx ends, so call it in the Tx that records the runner
// (store.RecordMinted): a second admission on any replica waits and then sees that
// runner among the live ones. Without quotas it takes no lock.
//
// A runner for a job is admitted when the queue admits that job (the job always
// contends, whatever its agent reported of it before: its agent asks now). A runner for
// no job, or for one that is no longer queued, comes after every job: it is admitted
// only into room no waiting job is held for.
func Admit(ctx context.Context, tx *store.Store, r Request) error {
	qs, err := tx.LockQuotas(ctx)
	if err != nil {
		return err
	}
	var covering []store.Quota
	for _, q := range qs {
		if covers(&q, r.AgentGroup, r.RepoKey) {
			covering = append(covering, q)
		}
	}
	if len(covering) == 0 {
		return nil
	}
	qu, err := Load(ctx, tx, qs, r.Now, r.MaxWait, r.JobID)
	if err != nil {
		return err
	}
	if p, ok := qu.Places[r.JobID]; ok && r.JobID != 0 {
		if p.Admitted {
			return nil
		}
		if p.Quota != nil {
			return &FullError{QuotaID: p.Quota.ID, Kind: p.Quota.Kind, Subject: p.Quota.Subject, Limit: p.QuotaLimit, Position: p.Position}
		}
	}
	cpu, mem := guardrails.Requests(r.Runner)
	slices.SortStableFunc(covering, func(a, b store.Quota) int { return cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)) })
	for i := range covering {
		q := &covering[i]
		if lim := qu.fits(q, cpu, mem); lim != "" {
			return &FullError{QuotaID: q.ID, Kind: q.Kind, Subject: q.Subject, Limit: lim}
		}
	}
	return nil
}

// covers reports whether q counts a runner of an agent of group for repoKey.
func covers(q *store.Quota, group, repoKey string) bool {
	switch q.Kind {
	case store.QuotaOwnerPrefix:
		return strings.HasPrefix(repoKey, q.Subject)
	case store.QuotaAgentGroup:
		return q.Subject == group
	}
	return false
}

type liveRunner struct {
	repoKey, policy, group, state string
	cpu, mem                      int64
}

type liveSet []liveRunner

func liveOf(ctx context.Context, st *store.Store) (liveSet, error) {
	rows, err := st.LiveRunners(ctx)
	if err != nil {
		return nil, err
	}
	out := make(liveSet, 0, len(rows))
	for _, r := range rows {
		var rs spec.RunnerSpec
		if len(r.RunnerSpec) > 0 {
			if err := json.Unmarshal(r.RunnerSpec, &rs); err != nil {
				return nil, fmt.Errorf("decode runner spec of policy %s of %s: %w", r.Policy, r.RepoKey, err)
			}
		}
		cpu, mem := guardrails.Requests(rs)
		out = append(out, liveRunner{repoKey: r.RepoKey, policy: r.Policy, group: r.AgentGroup, state: r.State, cpu: cpu, mem: mem})
	}
	return out, nil
}

func (s *Service) live(ctx context.Context, st *store.Store) (liveSet, error) { return liveOf(ctx, st) }

// usage sums what the live runners that q covers hold.
func (l liveSet) usage(q *store.Quota) portalapi.QuotaUsage {
	var u portalapi.QuotaUsage
	for _, r := range l {
		if covers(q, r.group, r.repoKey) {
			u.Runners++
			u.CPUMilli += r.cpu
			u.MemoryBytes += r.mem
		}
	}
	return u
}
