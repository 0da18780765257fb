package store

import (
	"context"
	"fmt"
)

// RunnerFilter selects runners for the portal. Empty fields select everything;
// OwnerPrefixes (the token's) limit the repositories; Limit caps the rows (0: no cap).
type RunnerFilter struct {
	RepoKey, Policy, AgentID, State string
	AgentGroup                      string
	OwnerPrefixes                   []string
	Limit                           int
}

// ListRunners returns the runners f selects with their agent's group, ordered by
// repository, policy and name.
func (s *Store) ListRunners(ctx context.Context, f RunnerFilter) ([]RunnerOfGroup, error) {
	q := s.conn(ctx).Table("runners").
		Select("runners.*, agents.agent_group AS agent_group, agents.name AS agent_name").
		Joins("JOIN agents ON agents.id = runners.agent_id")
	if f.RepoKey != "" {
		q = q.Where("runners.repo_key = ?", f.RepoKey)
	}
	if f.Policy != "" {
		q = q.Where("runners.policy = ?", f.Policy)
	}
	if f.AgentID != "" {
		q = q.Where("runners.agent_id = ?", f.AgentID)
	}
	if f.State != "" {
		q = q.Where("runners.state = ?", f.State)
	}
	if f.AgentGroup != "" {
		q = q.Where("agents.agent_group = ?", f.AgentGroup)
	}
	if len(f.OwnerPrefixes) > 0 {
		q = q.Where(prefixCondition(s.db, f.OwnerPrefixes))
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var rows []RunnerOfGroup
	if err := q.Order("runners.repo_key, runners.policy, runners.name").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list runners: %w", err)
	}
	return rows, nil
}

// RunnerOfGroup is a runner with the group and name of the agent that reported it.
type RunnerOfGroup struct {
	Runner     `gorm:"embedded"`
	AgentGroup string
	AgentName  string
}
