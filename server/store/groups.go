package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/garo-dev/garo/shared/guardrails"
)

// AgentGroup is a set of agents that serve the same policies.
type AgentGroup struct {
	Name        string `gorm:"primaryKey"`
	Description string
	// OwnerPrefixes are the repositories the group may serve (lower-cased prefixes of
	// "owner/name"); empty means every owner. See server/auth/authorize.go.
	OwnerPrefixes StringList
	// Constraints are the group's guardrails (migration 0012); the zero value is the
	// default of every group.
	Constraints guardrails.Constraints `gorm:"column:guardrails;serializer:json"`
	CreatedAt   time.Time
	// PolicyCount is computed by the queries, not stored.
	PolicyCount int64 `gorm:"->;-:migration"`
}

const groupColumns = "agent_groups.name, agent_groups.description, agent_groups.owner_prefixes, agent_groups.guardrails, agent_groups.created_at, " +
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

// LockAgentGroup reads the group name in a Tx and, on PostgreSQL, locks its row until
// the Tx ends: FOR UPDATE when forChange (UpdateAgentGroup follows), otherwise FOR KEY
// SHARE, the lock a policy write's foreign key takes anyway, so that a policy write that
// checked the group's owner prefixes and a change of those prefixes wait for each other
// (ownership's NO KEY UPDATE does not conflict with it). SQLite's single writer needs no
// lock.
func (s *Store) LockAgentGroup(ctx context.Context, name string, forChange bool) (*AgentGroup, error) {
	if s.driver == DriverPostgres {
		strength := "KEY SHARE"
		if forChange {
			strength = "UPDATE"
		}
		var names []string
		if err := s.conn(ctx).Model(&AgentGroup{}).Clauses(clause.Locking{Strength: strength}).
			Where("name = ?", name).Pluck("name", &names).Error; err != nil {
			return nil, fmt.Errorf("lock agent group %s: %w", name, err)
		}
	}
	return s.GetAgentGroup(ctx, name)
}

// UpdateAgentGroup writes the description, owner prefixes and constraints of g. Read g
// with LockAgentGroup(…, true) in the same Tx.
func (s *Store) UpdateAgentGroup(ctx context.Context, g *AgentGroup) error {
	constraints, err := json.Marshal(g.Constraints)
	if err != nil {
		return fmt.Errorf("update agent group %s: encode constraints: %w", g.Name, err)
	}
	res := s.conn(ctx).Model(&AgentGroup{}).Where("name = ?", g.Name).
		Updates(map[string]any{"description": g.Description, "owner_prefixes": g.OwnerPrefixes, "guardrails": string(constraints)})
	if res.Error != nil {
		return fmt.Errorf("update agent group %s: %w", g.Name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("update agent group %s: %w", g.Name, ErrNotFound)
	}
	return nil
}

// PoliciesOutside counts the policies that name group for a repository within none of
// prefixes, and returns the first such repository (as its policy spells it). No prefixes
// cover every repository.
func (s *Store) PoliciesOutside(ctx context.Context, group string, prefixes []string) (int64, string, error) {
	if len(prefixes) == 0 {
		return 0, "", nil
	}
	conds := make([]string, len(prefixes))
	args := []any{group}
	for i, p := range prefixes {
		conds[i] = "repo_key LIKE ? ESCAPE '\\'"
		args = append(args, likePrefix(strings.ToLower(p)))
	}
	where := "agent_group = ? AND NOT (" + strings.Join(conds, " OR ") + ")"
	var n int64
	if err := s.conn(ctx).Model(&Policy{}).Where(where, args...).Count(&n).Error; err != nil {
		return 0, "", fmt.Errorf("count policies of %s outside %v: %w", group, prefixes, err)
	}
	if n == 0 {
		return 0, "", nil
	}
	var first Policy
	if err := s.conn(ctx).Model(&Policy{}).Where(where, args...).Order("repo_key").Take(&first).Error; err != nil {
		return 0, "", fmt.Errorf("find a policy of %s outside %v: %w", group, prefixes, err)
	}
	return n, first.Owner + "/" + first.Repo, nil
}

// PoliciesOfGroup returns every policy that names group, by repository and name.
func (s *Store) PoliciesOfGroup(ctx context.Context, group string) ([]Policy, error) {
	var out []Policy
	if err := s.conn(ctx).Where("agent_group = ?", group).Order("repo_key, name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("policies of agent group %s: %w", group, err)
	}
	return out, nil
}

// GroupMembers counts the agents of group that are not revoked and its registration
// tokens that can still be used at now.
func (s *Store) GroupMembers(ctx context.Context, group string, now time.Time) (agents, tokens int64, err error) {
	if agents, err = s.countLiveAgents(ctx, group); err != nil {
		return 0, 0, err
	}
	err = s.conn(ctx).Model(&RegistrationToken{}).
		Where("agent_group = ? AND uses_left > 0 AND expires_at > ?", group, now.UTC()).Count(&tokens).Error
	if err != nil {
		return 0, 0, fmt.Errorf("count registration tokens of %s: %w", group, err)
	}
	return agents, tokens, nil
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
