package quotas

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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
	// Limit is "max_runners", "cpu" or "memory".
	Limit string
}

func (e *FullError) Error() string {
	return fmt.Sprintf("quota %s of %s %q is full (%s): no runner more until one of its runners ends", e.QuotaID, e.Kind, e.Subject, e.Limit)
}

func (e *FullError) Unwrap() error { return ErrQuotaFull }

// Request is one runner to admit: the agent group of the agent that asks for it, the
// repository and the policy's runner spec.
type Request struct {
	AgentGroup string
	RepoKey    string
	Runner     spec.RunnerSpec
}

// Admit decides, in tx, whether the runner of r may be born now: nil when every quota
// that covers it has room for it, a *FullError naming the first one that has not. It
// locks the quota rows (store.LockQuotas) until tx ends, so call it in the Tx that
// records the runner (store.RecordMinted): a second admission on any replica waits and
// then sees that runner among the live ones. Without quotas it takes no lock.
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
	live, err := liveOf(ctx, tx)
	if err != nil {
		return err
	}
	cpu, mem := guardrails.Requests(r.Runner)
	for i := range covering {
		q := &covering[i]
		u := live.usage(q)
		switch {
		case q.MaxRunners != nil && u.Runners+1 > *q.MaxRunners:
			return &FullError{QuotaID: q.ID, Kind: q.Kind, Subject: q.Subject, Limit: "max_runners"}
		case q.MaxCPUMilli != nil && cpu > 0 && u.CPUMilli+cpu > *q.MaxCPUMilli:
			return &FullError{QuotaID: q.ID, Kind: q.Kind, Subject: q.Subject, Limit: "cpu"}
		case q.MaxMemoryBytes != nil && mem > 0 && u.MemoryBytes+mem > *q.MaxMemoryBytes:
			return &FullError{QuotaID: q.ID, Kind: q.Kind, Subject: q.Subject, Limit: "memory"}
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
	repoKey, group string
	cpu, mem       int64
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
		out = append(out, liveRunner{repoKey: r.RepoKey, group: r.AgentGroup, cpu: cpu, mem: mem})
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
