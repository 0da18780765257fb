package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/store"
)

// Limits of registration tokens.
const (
	DefaultTokenLifetime = time.Hour
	MaxTokenLifetime     = 30 * 24 * time.Hour
	minTokenLifetime     = time.Minute
	maxTokenUses         = 1000
	maxDescription       = 1000
)

// ListFilter selects agents for the portal. Viewer is the token that asks: it sees only
// the agents of the groups it covers, and of those only the repositories and runners
// within its owner prefixes (server/auth decides both).
type ListFilter struct {
	Group, Status string
	Viewer        *auth.Principal
}

// ValidStatus reports whether status is one of the agent statuses.
func ValidStatus(status string) bool {
	switch status {
	case portalapi.AgentStatusActive, portalapi.AgentStatusStale, portalapi.AgentStatusOffline, portalapi.AgentStatusRevoked:
		return true
	}
	return false
}

// List returns the agents f selects, with their status, repositories and runner counts.
func (s *Service) List(ctx context.Context, f ListFilter) (*portalapi.AgentList, error) {
	rows, err := s.st.ListAgents(ctx, store.AgentFilter{Group: f.Group})
	if err != nil {
		return nil, err
	}
	groups, err := s.st.ListAgentGroups(ctx)
	if err != nil {
		return nil, err
	}
	covered := make(map[string]bool, len(groups))
	for i := range groups {
		covered[groups[i].Name] = f.Viewer.CoversGroup(&groups[i])
	}
	now := s.now()
	var keep []store.Agent
	for _, a := range rows {
		if covered[a.AgentGroup] && (f.Status == "" || s.status(&a, now) == f.Status) {
			keep = append(keep, a)
		}
	}
	items, err := s.describe(ctx, keep, now, f.Viewer)
	if err != nil {
		return nil, err
	}
	return &portalapi.AgentList{Items: items}, nil
}

// Get returns one agent; auth.ErrForbidden when viewer does not cover its group.
func (s *Service) Get(ctx context.Context, viewer *auth.Principal, id string) (*portalapi.Agent, error) {
	a, err := s.st.GetAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	g, err := s.st.GetAgentGroup(ctx, a.AgentGroup)
	if err != nil {
		return nil, err
	}
	if err := viewer.AuthorizeAgent(id, g, "read"); err != nil {
		return nil, err
	}
	items, err := s.describe(ctx, []store.Agent{*a}, s.now(), viewer)
	if err != nil {
		return nil, err
	}
	return &items[0], nil
}

// describe maps agents to the portal's view: a few queries for all of them. The
// repositories and runner counts are those within viewer's owner prefixes.
func (s *Service) describe(ctx context.Context, agents []store.Agent, now time.Time, viewer *auth.Principal) ([]portalapi.Agent, error) {
	ids := make([]string, len(agents))
	for i := range agents {
		ids[i] = agents[i].ID
	}
	owned, err := s.st.OwnedBy(ctx, ids, now)
	if err != nil {
		return nil, err
	}
	spelled, err := s.repoNames(ctx, owned)
	if err != nil {
		return nil, err
	}
	repos := map[string][]string{}
	for _, o := range owned {
		name := spelled[o.RepoKey]
		if viewer.CoversRepo(name) {
			repos[o.AgentID] = append(repos[o.AgentID], name)
		}
	}
	counts, err := s.st.CountRunners(ctx, ids, viewer.OwnerPrefixes)
	if err != nil {
		return nil, err
	}
	out := make([]portalapi.Agent, 0, len(agents))
	for i := range agents {
		out = append(out, s.toAPI(&agents[i], now, repos[agents[i].ID], counts[agents[i].ID]))
	}
	return out, nil
}

// repoNames spells the owned repositories as their policies do.
func (s *Service) repoNames(ctx context.Context, owned []store.Ownership) (map[string]string, error) {
	out := make(map[string]string, len(owned))
	byGroup := map[string][]string{}
	for _, o := range owned {
		out[o.RepoKey] = o.RepoKey
		byGroup[o.AgentGroup] = append(byGroup[o.AgentGroup], o.RepoKey)
	}
	for group := range byGroup {
		refs, err := s.st.ServedRepos(ctx, group)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			if _, ok := out[r.RepoKey]; ok {
				out[r.RepoKey] = r.Owner + "/" + r.Repo
			}
		}
	}
	return out, nil
}

func (s *Service) toAPI(a *store.Agent, now time.Time, repos []string, runners map[string]int64) portalapi.Agent {
	out := portalapi.Agent{
		ID: a.ID, Name: a.Name, Group: a.AgentGroup, Version: a.Version, Provider: a.Provider,
		Status: s.status(a, now), State: a.State, RegisteredAt: a.RegisteredAt.UTC(), LastSeenAt: a.LastSeenAt.UTC(),
		Repositories: repos, Runners: runners, Jobs: map[string]int64{},
	}
	if a.RevokedAt != nil {
		t := a.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	out.Draining = a.RevokedAt == nil && a.Draining()
	if a.DrainRequestedAt != nil {
		t := a.DrainRequestedAt.UTC()
		out.DrainRequestedAt, out.DrainRequestedBy = &t, a.DrainRequestedBy
	}
	if out.Repositories == nil {
		out.Repositories = []string{}
	}
	if out.Runners == nil {
		out.Runners = map[string]int64{}
	}
	var inv inventory
	if len(a.Inventory) > 0 && json.Unmarshal(a.Inventory, &inv) == nil && inv.Jobs != nil {
		out.Jobs = inv.Jobs
	}
	out.Capacity = capacityToAPI(a)
	return out
}

// CreateRegistrationToken makes a registration token for group and returns its secret,
// the only time it is seen. An unknown group gives store.ErrNotFound.
// auth.ErrForbidden when p does not cover the group: that is what keeps a tenant's agents
// out of other tenants' groups.
func (s *Service) CreateRegistrationToken(ctx context.Context, p *auth.Principal, actor store.Actor, group string, req portalapi.RegistrationTokenRequest) (*portalapi.CreatedRegistrationToken, error) {
	lifetime, uses, err := validateTokenRequest(req)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret(RegistrationTokenPrefix)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := &store.RegistrationToken{
		ID: uuid.NewString(), AgentGroup: group, Hash: auth.Hash(secret), Description: req.Description,
		ExpiresAt: now.Add(lifetime), UsesLeft: uses, CreatedBy: actor.Name, CreatedAt: now,
	}
	err = s.st.Tx(ctx, func(tx *store.Store) error {
		// The group's row stays locked (PostgreSQL) until the token is written, so that a
		// change of the group's prefixes waits for it and then counts it.
		g, err := tx.LockAgentGroup(ctx, group, false)
		if err != nil {
			return err
		}
		if err := p.AuthorizeGroup(g, "create registration tokens of"); err != nil {
			return err
		}
		if err := tx.CreateRegistrationToken(ctx, t); err != nil {
			if errors.Is(err, store.ErrUnknownGroup) {
				return fmt.Errorf("agent group %s: %w", group, store.ErrNotFound)
			}
			return err
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: "agent_registration_token.create", ResourceType: "agent_registration_token", ResourceID: t.ID, After: tokenToAPI(t),
		})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("registration token created", "group", group, "token_id", t.ID, "uses", uses, "expires_at", t.ExpiresAt)
	return &portalapi.CreatedRegistrationToken{RegistrationToken: tokenToAPI(t), Token: secret}, nil
}

func validateTokenRequest(req portalapi.RegistrationTokenRequest) (time.Duration, int, error) {
	var errs []portalapi.FieldError
	lifetime, uses := DefaultTokenLifetime, 1
	if req.ExpiresIn != nil {
		lifetime = req.ExpiresIn.D()
		if lifetime < minTokenLifetime || lifetime > MaxTokenLifetime {
			errs = append(errs, portalapi.FieldError{Field: "expires_in", Message: fmt.Sprintf("must be between %s and %s, got %s", minTokenLifetime, MaxTokenLifetime, lifetime)})
		}
	}
	if req.Uses != nil {
		uses = *req.Uses
		if uses < 1 || uses > maxTokenUses {
			errs = append(errs, portalapi.FieldError{Field: "uses", Message: fmt.Sprintf("must be between 1 and %d, got %d", maxTokenUses, uses)})
		}
	}
	if len(req.Description) > maxDescription {
		errs = append(errs, portalapi.FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters", maxDescription)})
	}
	if len(errs) > 0 {
		return 0, 0, &portalapi.ValidationError{Fields: errs}
	}
	return lifetime, uses, nil
}

// ListRegistrationTokens lists the tokens of group (never a secret). An unknown group
// gives store.ErrNotFound, one p does not cover auth.ErrForbidden.
func (s *Service) ListRegistrationTokens(ctx context.Context, p *auth.Principal, group string) (*portalapi.RegistrationTokenList, error) {
	if err := authorizeGroup(ctx, s.st, p, group, "list the registration tokens of"); err != nil {
		return nil, err
	}
	rows, err := s.st.ListRegistrationTokens(ctx, group)
	if err != nil {
		return nil, err
	}
	out := &portalapi.RegistrationTokenList{Items: make([]portalapi.RegistrationToken, 0, len(rows))}
	for i := range rows {
		out.Items = append(out.Items, tokenToAPI(&rows[i]))
	}
	return out, nil
}

// GetRegistrationToken describes one token of group.
func (s *Service) GetRegistrationToken(ctx context.Context, p *auth.Principal, group, id string) (*portalapi.RegistrationToken, error) {
	if err := authorizeGroup(ctx, s.st, p, group, "read the registration tokens of"); err != nil {
		return nil, err
	}
	t, err := s.st.GetRegistrationToken(ctx, group, id)
	if err != nil {
		return nil, err
	}
	out := tokenToAPI(t)
	return &out, nil
}

// DeleteRegistrationToken removes a token of group; agents registered with it stay.
func (s *Service) DeleteRegistrationToken(ctx context.Context, p *auth.Principal, actor store.Actor, group, id string) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		if err := authorizeGroup(ctx, tx, p, group, "delete the registration tokens of"); err != nil {
			return err
		}
		t, err := tx.GetRegistrationToken(ctx, group, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteRegistrationToken(ctx, group, id); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: "agent_registration_token.delete", ResourceType: "agent_registration_token", ResourceID: id, Before: tokenToAPI(t),
		})
	})
}

// authorizeGroup reads group (store.ErrNotFound when unknown) and lets server/auth
// decide whether p may act on it.
func authorizeGroup(ctx context.Context, st *store.Store, p *auth.Principal, group, action string) error {
	g, err := st.GetAgentGroup(ctx, group)
	if err != nil {
		return err
	}
	return p.AuthorizeGroup(g, action)
}

func tokenToAPI(t *store.RegistrationToken) portalapi.RegistrationToken {
	return portalapi.RegistrationToken{
		ID: t.ID, Group: t.AgentGroup, Description: t.Description, ExpiresAt: t.ExpiresAt.UTC(),
		UsesLeft: t.UsesLeft, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt.UTC(),
	}
}
