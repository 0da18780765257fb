package agents

import (
	"context"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// MaxRunnerList caps one runner listing; RunnerList.Truncated says more matched.
const MaxRunnerList = 5000

// RunnerFilter selects runners for the portal. OwnerPrefixes are the asking token's: it
// sees only the runners of repositories they reach, like the job log.
type RunnerFilter struct {
	RepoKey, Policy, Agent, Group, State string
	OwnerPrefixes                        []string
}

// ValidRunnerState reports whether state is one an agent reports for a runner.
func ValidRunnerState(state string) bool {
	switch state {
	case "creating", "booting", "idle", "busy", "finished", "failed":
		return true
	}
	return false
}

// ListRunners returns the runners f selects, as their agents last reported them.
func (s *Service) ListRunners(ctx context.Context, f RunnerFilter) (*portalapi.RunnerList, error) {
	rows, err := s.st.ListRunners(ctx, store.RunnerFilter{
		RepoKey: f.RepoKey, Policy: f.Policy, AgentID: f.Agent, State: f.State,
		AgentGroup: f.Group, OwnerPrefixes: f.OwnerPrefixes, Limit: MaxRunnerList + 1,
	})
	if err != nil {
		return nil, err
	}
	out := &portalapi.RunnerList{Items: make([]portalapi.Runner, 0, len(rows))}
	if len(rows) > MaxRunnerList {
		rows, out.Truncated = rows[:MaxRunnerList], true
	}
	owned := make([]store.Ownership, len(rows))
	for i := range rows {
		owned[i] = store.Ownership{RepoKey: rows[i].RepoKey, AgentGroup: rows[i].AgentGroup}
	}
	spelled, err := s.repoNames(ctx, owned)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		r := &rows[i]
		item := portalapi.Runner{
			Name: r.Name, Repository: spelled[r.RepoKey], Policy: r.Policy,
			Agent: r.AgentID, AgentName: r.AgentName, AgentGroup: r.AgentGroup, State: r.State,
			GitHubRunnerID: r.RunnerID, JobID: r.JobID, Reason: r.Reason, ProviderID: r.ProviderID,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		}
		if r.RunningSince != nil {
			t := r.RunningSince.UTC()
			item.RunningSince = &t
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}
