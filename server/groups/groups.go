// Package groups is the agent-group service: a group is a set of agents that serve the
// same policies. Writes are audited in the transaction that makes them.
package groups

import (
	"context"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
)

// Service runs the agent-group use cases on a store.
type Service struct {
	st *store.Store
}

// NewService returns the group service on st.
func NewService(st *store.Store) *Service { return &Service{st: st} }

// List returns every group.
func (s *Service) List(ctx context.Context) (*portalapi.AgentGroupList, error) {
	rows, err := s.st.ListAgentGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := &portalapi.AgentGroupList{Items: make([]portalapi.AgentGroup, 0, len(rows))}
	for i := range rows {
		out.Items = append(out.Items, toAPI(&rows[i]))
	}
	return out, nil
}

// Get returns the group name.
func (s *Service) Get(ctx context.Context, name string) (*portalapi.AgentGroup, error) {
	g, err := s.st.GetAgentGroup(ctx, name)
	if err != nil {
		return nil, err
	}
	out := toAPI(g)
	return &out, nil
}

// Create adds a group.
func (s *Service) Create(ctx context.Context, actor store.Actor, req portalapi.AgentGroupRequest) (*portalapi.AgentGroup, error) {
	if err := policy.ValidateName(req.Name); err != nil {
		return nil, portalapi.Invalid("name", "%v", err)
	}
	if len(req.Description) > 1000 {
		return nil, portalapi.Invalid("description", "must be at most 1000 characters, got %d", len(req.Description))
	}
	g := &store.AgentGroup{Name: req.Name, Description: req.Description}
	var out portalapi.AgentGroup
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateAgentGroup(ctx, g); err != nil {
			return err
		}
		out = toAPI(g)
		return tx.Audit(ctx, actor, store.Change{Action: "agent_group.create", ResourceType: "agent_group", ResourceID: g.Name, After: out})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes a group; store.ErrInUse while a policy points at it or one of its agents
// is not revoked.
func (s *Service) Delete(ctx context.Context, actor store.Actor, name string) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		g, err := tx.GetAgentGroup(ctx, name)
		if err != nil {
			return err
		}
		if err := tx.DeleteAgentGroup(ctx, name); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{Action: "agent_group.delete", ResourceType: "agent_group", ResourceID: name, Before: toAPI(g)})
	})
}

func toAPI(g *store.AgentGroup) portalapi.AgentGroup {
	return portalapi.AgentGroup{Name: g.Name, Description: g.Description, PolicyCount: g.PolicyCount, CreatedAt: g.CreatedAt.UTC()}
}
