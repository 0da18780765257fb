package agents

import (
	"context"
	"errors"
	"fmt"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/store"
)

// ErrAgentRevoked is the answer to draining or undraining a revoked agent: it runs
// nothing the server could drain (409).
var ErrAgentRevoked = errors.New("the agent is revoked")

// Drain asks agent id to drain: its heartbeats are answered drain=true (it creates no
// runner, lets busy ones finish, removes idle ones), it is given no repository, and its
// repositories move to other live agents of its group as their runners end (see the
// package doc). The request is kept until Undrain, across restarts. Draining a drained
// agent changes nothing (the first request's time and actor stay). p must cover the
// agent's group (auth.ErrForbidden otherwise); a revoked agent gives ErrAgentRevoked.
// It returns the agent as the portal sees it after the change.
func (s *Service) Drain(ctx context.Context, p *auth.Principal, actor store.Actor, id string) (*portalapi.Agent, error) {
	return s.setDrain(ctx, p, actor, id, true)
}

// Undrain lifts the drain request of agent id: it takes runners and repositories again
// (it reports active at its next heartbeat). Undraining an agent that is not drained
// changes nothing. Errors as Drain's.
func (s *Service) Undrain(ctx context.Context, p *auth.Principal, actor store.Actor, id string) (*portalapi.Agent, error) {
	return s.setDrain(ctx, p, actor, id, false)
}

func (s *Service) setDrain(ctx context.Context, p *auth.Principal, actor store.Actor, id string, drain bool) (*portalapi.Agent, error) {
	verb := map[bool]string{true: "drain", false: "undrain"}[drain]
	var a *store.Agent
	changed := false
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		var err error
		if a, err = s.authorizedAgent(ctx, tx, p, id, verb); err != nil {
			return err
		}
		if a.RevokedAt != nil {
			return fmt.Errorf("%s agent %s: %w (at %s); register the machine again", verb, id, ErrAgentRevoked, a.RevokedAt.UTC().Format(time.RFC3339))
		}
		now := s.now()
		before := s.toAPI(a, now, nil, nil)
		if drain {
			changed, err = tx.DrainAgent(ctx, id, now, actor.Name)
			a.DrainRequestedAt, a.DrainRequestedBy = &now, actor.Name
		} else {
			changed, err = tx.UndrainAgent(ctx, id)
			a.DrainRequestedAt, a.DrainRequestedBy = nil, ""
		}
		if err != nil || !changed {
			return err
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: "agent." + verb, ResourceType: "agent", ResourceID: id, Before: before, After: s.toAPI(a, now, nil, nil),
		})
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.log.Info("agent "+verb+"ed", "agent_id", id, "group", a.AgentGroup, "actor", actor.Name)
		// Hand over what can move now; the drained agent learns it at its next
		// heartbeat, and every heartbeat of the group settles again.
		if err := s.settleNow(ctx, a.AgentGroup); err != nil {
			s.log.Warn("settling ownership after a drain change failed; the next heartbeat of the group does it",
				"agent_id", id, "group", a.AgentGroup, "err", err)
		}
	}
	return s.Get(ctx, p, id)
}
