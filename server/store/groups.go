package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AgentGroup is a set of agents that serve the same policies.
type AgentGroup struct {
	Name        string `gorm:"primaryKey"`
	Description string
	// OwnerPrefixes are the repositories the group may serve (lower-cased prefixes of
	// "owner/name"); empty means every owner. See server/auth/authorize.go.
	OwnerPrefixes StringList
	CreatedAt     time.Time
	// PolicyCount is computed by the queries, not stored.
	PolicyCount int64 `gorm:"->;-:migration"`
}

const groupColumns = "agent_groups.name, agent_groups.description, agent_groups.owner_prefixes, agent_groups.created_at, " +
	"(SELECT COUNT(*) FROM policies WHERE policies.agent_group = agent_groups.name) AS policy_count"

// ListAgentGroups returns every group, by name.
func (s *Store) ListAgentGroups(ctx context.Context) ([]AgentGroup, error) {
	var out []AgentGroup
	if err := s.conn(ctx).Model(&AgentGroup{}).Select(groupColumns).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list agent groups: %w", err)
	}
	return out, nil
}

// GetAgentGroup returns the group name.
func (s *Store) GetAgentGroup(ctx context.Context, name string) (*AgentGroup, error) {
	var g AgentGroup
	err := s.conn(ctx).Model(&AgentGroup{}).Select(groupColumns).Where("name = ?", name).Take(&g).Error
	if err != nil {
		return nil, fmt.Errorf("get agent group %s: %w", name, notFound(err))
	}
	return &g, nil
}

// CreateAgentGroup inserts g.
func (s *Store) CreateAgentGroup(ctx context.Context, g *AgentGroup) error {
	g.CreatedAt = s.now()
	if err := s.conn(ctx).Omit("policy_count").Create(g).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("create agent group %s: %w", g.Name, ErrAlreadyExists)
		}
		return fmt.Errorf("create agent group %s: %w", g.Name, err)
	}
	return nil
}

// DeleteAgentGroup removes the group name. The foreign key from policies refuses it while
// a policy points at the group, whatever runs concurrently: that gives ErrInUse. So does
// an agent of the group that is not revoked; revoked agents, their runner inventory and
// the group's registration tokens go with the group. Call it inside a Tx: on PostgreSQL
// the group's row is locked first, so an agent registering meanwhile is either counted or
// refused by the foreign key.
func (s *Store) DeleteAgentGroup(ctx context.Context, name string) error {
	if s.driver == DriverPostgres {
		var names []string
		if err := s.conn(ctx).Model(&AgentGroup{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("name = ?", name).Pluck("name", &names).Error; err != nil {
			return fmt.Errorf("delete agent group %s: %w", name, err)
		}
	}
	n, err := s.countLiveAgents(ctx, name)
	if err != nil {
		return fmt.Errorf("delete agent group %s: %w", name, err)
	}
	if n > 0 {
		return fmt.Errorf("delete agent group %s: %d agents not revoked: %w", name, n, ErrInUse)
	}
	res := s.conn(ctx).Where("name = ?", name).Delete(&AgentGroup{})
	if res.Error != nil {
		if isForeignKey(res.Error) {
			return fmt.Errorf("delete agent group %s: %w", name, ErrInUse)
		}
		return fmt.Errorf("delete agent group %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete agent group %s: %w", name, ErrNotFound)
	}
	return nil
}
