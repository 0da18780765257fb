// Package groups is the agent-group service: a group is a set of agents that serve the
// same policies, for the repositories within its owner prefixes. Writes are audited in the
// transaction that makes them; who may see and write which group is decided by
// server/auth (Principal.CoversGroup).
package groups

import (
	"context"
	"fmt"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// Service runs the agent-group use cases on a store.
type Service struct {
	st *store.Store
}

// NewService returns the group service on st.
func NewService(st *store.Store) *Service { return &Service{st: st} }

// List returns the groups p covers; the others are left out.
func (s *Service) List(ctx context.Context, p *auth.Principal) (*portalapi.AgentGroupList, error) {
	rows, err := s.st.ListAgentGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := &portalapi.AgentGroupList{Items: make([]portalapi.AgentGroup, 0, len(rows))}
	for i := range rows {
		if p.CoversGroup(&rows[i]) {
			out.Items = append(out.Items, toAPI(&rows[i]))
		}
	}
	return out, nil
}

// Get returns the group name; auth.ErrForbidden when p does not cover it.
func (s *Service) Get(ctx context.Context, p *auth.Principal, name string) (*portalapi.AgentGroup, error) {
	g, err := s.st.GetAgentGroup(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := p.AuthorizeGroup(g, "read"); err != nil {
		return nil, err
	}
	out := toAPI(g)
	return &out, nil
}

// Create adds a group. A principal with owner prefixes that names none gets a group with
// its own; it may not create one that serves more than it reaches (auth.ErrForbidden).
func (s *Service) Create(ctx context.Context, p *auth.Principal, actor store.Actor, req portalapi.AgentGroupRequest) (*portalapi.AgentGroup, error) {
	var errs []portalapi.FieldError
	if err := policy.ValidateName(req.Name); err != nil {
		errs = append(errs, portalapi.FieldError{Field: "name", Message: err.Error()})
	}
	if len(req.Description) > 1000 {
		errs = append(errs, portalapi.FieldError{Field: "description", Message: fmt.Sprintf("must be at most 1000 characters, got %d", len(req.Description))})
	}
	prefixes, perrs := auth.NormalizePrefixes("owner_prefixes", req.OwnerPrefixes)
	errs = append(errs, perrs...)
	var constraints portalapi.AgentGroupConstraints
	if req.Constraints != nil {
		constraints = *req.Constraints
		errs = append(errs, constraintErrors(constraints)...)
	}
	if len(errs) > 0 {
		return nil, &portalapi.ValidationError{Fields: errs}
	}
	if len(prefixes) == 0 && p.Prefixed() {
		prefixes = append(prefixes, p.OwnerPrefixes...)
	}
	if err := p.AuthorizeNewGroup(req.Name, prefixes); err != nil {
		return nil, err
	}
	if req.Constraints != nil {
		if err := p.AuthorizeConstraints(req.Name); err != nil {
			return nil, err
		}
	}
	g := &store.AgentGroup{Name: req.Name, Description: req.Description, OwnerPrefixes: prefixes, Constraints: constraints}
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

// Update changes a group's description and owner prefixes. p must cover the group as it
// is and as it will be (auth.ErrForbidden); prefixes that would leave out the repository
// of a policy that names the group give store.ErrInUse, naming one, and so do prefixes
// that serve more than before while the group has agents or usable registration tokens.
func (s *Service) Update(ctx context.Context, p *auth.Principal, actor store.Actor, name string, patch portalapi.AgentGroupPatch) (*portalapi.AgentGroup, error) {
	var errs []portalapi.FieldError
	if patch.Description != nil && len(*patch.Description) > 1000 {
		errs = append(errs, portalapi.FieldError{Field: "description", Message: fmt.Sprintf("must be at most 1000 characters, got %d", len(*patch.Description))})
	}
	var prefixes []string
	if patch.OwnerPrefixes != nil {
		var perrs []portalapi.FieldError
		prefixes, perrs = auth.NormalizePrefixes("owner_prefixes", *patch.OwnerPrefixes)
		errs = append(errs, perrs...)
	}
	if patch.Constraints != nil {
		errs = append(errs, constraintErrors(*patch.Constraints)...)
	}
	if len(errs) > 0 {
		return nil, &portalapi.ValidationError{Fields: errs}
	}
	var out portalapi.AgentGroup
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		g, err := tx.LockAgentGroup(ctx, name, true)
		if err != nil {
			return err
		}
		if err := p.AuthorizeGroup(g, "change"); err != nil {
			return err
		}
		before := toAPI(g)
		if patch.Description != nil {
			g.Description = *patch.Description
		}
		if patch.OwnerPrefixes != nil {
			if !p.CoversPrefixes(prefixes) {
				return fmt.Errorf("%w: token %q (owner prefixes %v) may not give agent group %q the owner prefixes %v: every prefix of the group must be within one of the token's",
					auth.ErrForbidden, p.Name, p.OwnerPrefixes, name, prefixes)
			}
			n, repo, err := tx.PoliciesOutside(ctx, name, prefixes)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("agent group %s: %d policies name it for repositories outside the owner prefixes %v (%s among them): move or delete them first: %w",
					name, n, prefixes, repo, store.ErrInUse)
			}
			// Widening (serving a repository the group did not serve) would hand those
			// repositories' jobs and runner credentials to agents that were let in by
			// whoever covered the old prefixes: only a group without members may widen.
			if !auth.PrefixesWithin(g.OwnerPrefixes, prefixes) {
				agents, tokens, err := tx.GroupMembers(ctx, name, tx.Now())
				if err != nil {
					return err
				}
				if agents > 0 || tokens > 0 {
					return fmt.Errorf("agent group %s: the owner prefixes %v would serve repositories that %v do not, and the group has %d agents that are not revoked and %d usable registration tokens, which were let in for the old prefixes: revoke and delete them first, or make a new group: %w",
						name, prefixes, []string(g.OwnerPrefixes), agents, tokens, store.ErrInUse)
				}
			}
			g.OwnerPrefixes = prefixes
		}
		if patch.Constraints != nil {
			// Policies that break tightened constraints are not refused here: the
			// operator's rule wins at once. They are reported (their serving state,
			// garo_policies_violating_constraints) and left out of the agents' config
			// until they fit again.
			if err := p.AuthorizeConstraints(name); err != nil {
				return err
			}
			g.Constraints = *patch.Constraints
		}
		if err := tx.UpdateAgentGroup(ctx, g); err != nil {
			return err
		}
		out = toAPI(g)
		return tx.Audit(ctx, actor, store.Change{Action: "agent_group.update", ResourceType: "agent_group", ResourceID: name, Before: before, After: out})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes a group; store.ErrInUse while a policy points at it or one of its agents
// is not revoked, auth.ErrForbidden when p does not cover it.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, actor store.Actor, name string) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		g, err := tx.GetAgentGroup(ctx, name)
		if err != nil {
			return err
		}
		if err := p.AuthorizeGroup(g, "delete"); err != nil {
			return err
		}
		if err := tx.DeleteAgentGroup(ctx, name); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{Action: "agent_group.delete", ResourceType: "agent_group", ResourceID: name, Before: toAPI(g)})
	})
}

func toAPI(g *store.AgentGroup) portalapi.AgentGroup {
	return portalapi.AgentGroup{
		Name: g.Name, Description: g.Description, OwnerPrefixes: append([]string{}, g.OwnerPrefixes...),
		Constraints: g.Constraints, PolicyCount: g.PolicyCount, CreatedAt: g.CreatedAt.UTC(),
	}
}

// constraintErrors checks a constraint set of a request (field "constraints").
func constraintErrors(c portalapi.AgentGroupConstraints) []portalapi.FieldError {
	var out []portalapi.FieldError
	for _, v := range guardrails.Validate("constraints", c) {
		out = append(out, portalapi.FieldError{Field: v.Field, Message: v.Message})
	}
	return out
}
