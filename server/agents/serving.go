package agents

import (
	"context"
	"fmt"
	"slices"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
)

// groupView is what the portal's serving status needs of one agent group: which policy
// providers its live agents serve, and who owns what.
type groupView struct {
	name     string
	group    *store.AgentGroup               // the group's row: its constraints
	active   map[string]bool                 // policy providers served by a live agent that is not draining
	draining map[string]bool                 // policy providers served only by draining live agents
	kinds    []string                        // provider kinds its live agents run, sorted
	owners   map[store.ServedProvider]string // (repository, provider) → live owner
}

// groupViews reads the views of groups, three queries each (live agents, ownership, the
// group's row), each group once.
func (s *Service) groupViews(ctx context.Context, groups []string) (map[string]*groupView, error) {
	now := s.now()
	out := make(map[string]*groupView, len(groups))
	for _, g := range groups {
		if out[g] != nil {
			continue
		}
		agents, err := s.st.LiveAgents(ctx, g, now.Add(-s.cfg.Offline))
		if err != nil {
			return nil, err
		}
		rows, err := s.st.GroupOwnership(ctx, g)
		if err != nil {
			return nil, err
		}
		row, err := s.st.GetAgentGroup(ctx, g)
		if err != nil {
			return nil, err
		}
		v := &groupView{name: g, group: row, active: map[string]bool{}, draining: map[string]bool{}, owners: map[store.ServedProvider]string{}}
		live := map[string]bool{}
		for _, a := range agents {
			live[a.ID] = true
			if a.Draining() {
				v.draining[a.Serves] = true
			} else {
				v.active[a.Serves] = true
			}
			if !slices.Contains(v.kinds, a.Provider) {
				v.kinds = append(v.kinds, a.Provider)
			}
		}
		slices.Sort(v.kinds)
		for _, o := range rows {
			if live[o.AgentID] && o.LeaseExpiresAt.After(now) {
				v.owners[store.ServedProvider{RepoKey: o.RepoKey, Provider: o.Provider}] = o.AgentID
			}
		}
		out[g] = v
	}
	return out, nil
}

// serving is the serving status of an enabled policy of repoKey and provider in v's group.
func (v *groupView) serving(repoKey, provider string) portalapi.PolicyServing {
	if v.active[provider] {
		return portalapi.PolicyServing{State: portalapi.PolicyServed, AgentID: v.owners[store.ServedProvider{RepoKey: repoKey, Provider: provider}]}
	}
	reason := fmt.Sprintf("no live agent of group %s runs provider %s", v.name, provider)
	switch {
	case v.draining[provider]:
		reason = fmt.Sprintf("the live agents of group %s that run provider %s are draining", v.name, provider)
	case len(v.kinds) > 0:
		reason += fmt.Sprintf(" (its live agents run %s)", strings.Join(v.kinds, ", "))
	}
	return portalapi.PolicyServing{State: portalapi.PolicyNoAgent, Reason: reason}
}

// ExplainPolicies sets the serving status of each policy: served (and by whom), no_agent
// when no live agent of its group runs its provider, github_refused when GitHub's last
// answer to a runner of the policy was a lasting refusal (noteRefusal), or disabled.
func (s *Service) ExplainPolicies(ctx context.Context, items []portalapi.Policy) error {
	groups := make([]string, 0, len(items))
	for _, p := range items {
		groups = append(groups, p.AgentGroup)
	}
	views, err := s.groupViews(ctx, groups)
	if err != nil {
		return fmt.Errorf("serving status of policies: %w", err)
	}
	versions := make(map[string]int64, len(items))
	for _, p := range items {
		versions[p.ID] = p.Version
	}
	refusals, err := s.st.RefusalsOf(ctx, versions)
	if err != nil {
		return fmt.Errorf("serving status of policies: %w", err)
	}
	for i := range items {
		p := &items[i]
		st := portalapi.PolicyServing{State: portalapi.PolicyDisabled, Reason: "the policy is disabled"}
		if p.Enabled {
			v := views[p.AgentGroup]
			if vs := wireViolations(v.group, p); len(vs) > 0 {
				st = portalapi.PolicyServing{State: portalapi.PolicyViolatesConstraints, Reason: violationsReason(v.name, vs), Violations: policy.FieldErrors(vs)}
			} else if st = v.serving(strings.ToLower(p.Repository), p.Provider); st.State == portalapi.PolicyServed {
				if r, ok := refusals[p.ID]; ok {
					st = refusedServing(r)
				}
			}
		}
		p.Serving = &st
	}
	return nil
}

// ExplainJobs marks the queued and waiting jobs whose enabled policy no live agent can
// serve (no live agent of its group runs its provider) with agent state no_agent and the
// reason, in place of what an agent reported before; those of a policy GitHub refuses
// runners for with backing_off and GitHub's refusal as the reason.
func (s *Service) ExplainJobs(ctx context.Context, items []portalapi.Job) error {
	var keys []string
	for _, j := range items {
		if awaitsRunner(j) {
			if k := strings.ToLower(j.Repository); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	policies, err := s.st.PoliciesOfRepos(ctx, keys)
	if err != nil {
		return fmt.Errorf("serving status of jobs: %w", err)
	}
	type ref struct{ repoKey, name string }
	byRef := make(map[ref]*store.Policy, len(policies))
	groups := make([]string, 0, len(policies))
	for i := range policies {
		p := &policies[i]
		byRef[ref{p.RepoKey, p.Name}] = p
		groups = append(groups, p.AgentGroup)
	}
	views, err := s.groupViews(ctx, groups)
	if err != nil {
		return fmt.Errorf("serving status of jobs: %w", err)
	}
	versions := make(map[string]int64, len(policies))
	for _, p := range policies {
		versions[p.ID] = p.Version
	}
	refusals, err := s.st.RefusalsOf(ctx, versions)
	if err != nil {
		return fmt.Errorf("serving status of jobs: %w", err)
	}
	for i := range items {
		j := &items[i]
		p := byRef[ref{strings.ToLower(j.Repository), j.Policy}]
		if !awaitsRunner(*j) || p == nil || !p.Enabled {
			continue
		}
		v := views[p.AgentGroup]
		if vs, err := policy.Violations(v.group, p); err != nil {
			return fmt.Errorf("serving status of jobs: %w", err)
		} else if len(vs) > 0 {
			j.AgentState, j.AgentReason, j.QueuePosition, j.AgentID = portalapi.JobNoAgent, violationsReason(v.name, vs), 0, ""
			continue
		}
		if st := v.serving(p.RepoKey, p.Provider); st.State == portalapi.PolicyNoAgent {
			j.AgentState, j.AgentReason, j.QueuePosition, j.AgentID = portalapi.JobNoAgent, st.Reason, 0, ""
		} else if r, ok := refusals[p.ID]; ok {
			// The agent backs the policy off after each refusal and says so; the reason
			// is GitHub's refusal, whatever the agent reported last.
			j.AgentState, j.AgentReason, j.QueuePosition = portalapi.JobBackingOff, r.Reason, 0
		}
	}
	return nil
}

// awaitsRunner reports whether j still waits for a runner and is matched to a policy.
func awaitsRunner(j portalapi.Job) bool {
	return j.Policy != "" && (j.State == portalapi.JobQueued || j.State == portalapi.JobWaiting)
}
