package agents

import (
	"context"
	"fmt"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// A policy that breaks its group's constraints (they were tightened after it was
// written; every write checks them) is served by no agent: it is left out of the agents'
// config, its serving state is violates_constraints, its queued jobs show no_agent, and
// garo_policies_violating_constraints counts it. The agent checks the constraints again
// before it creates a runner (agent/scheduler), for a config an older server sent.

// violationsReason is the serving reason of a policy with violations vs in group g.
func violationsReason(g string, vs []guardrails.Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return fmt.Sprintf("the policy breaks the constraints of agent group %s, so no agent serves it: %s", g, strings.Join(parts, "; "))
}

// wireViolations checks the wire policy p against the constraints of group g.
func wireViolations(g *store.AgentGroup, p *portalapi.Policy) []guardrails.Violation {
	req := p.Request()
	return guardrails.Check(g.Name, g.Constraints, policy.Subject(p.Repository, &req))
}

// GroupChanged wakes the polls of the agents of group (its constraints changed: their
// config may leave policies out, or take them back) and recounts its violating policies.
func (s *Service) GroupChanged(ctx context.Context, group string) {
	s.publish(ctx, TopicGroup(group))
	s.recountViolations(ctx, group, true)
}

// recountViolations sets garo_policies_violating_constraints of group; a failure only
// leaves the gauge as it was (logged). Unless always, only a group with violations, or
// one this replica has not counted yet (after a start), is recounted: a policy write
// cannot add one (every write is checked), so after a write only a group that had some
// can have fewer, and the others cost no query.
func (s *Service) recountViolations(ctx context.Context, group string, always bool) {
	if group == "" {
		return
	}
	s.violatingMu.Lock()
	had, counted := s.violatingN[group]
	s.violatingMu.Unlock()
	if !always && counted && had == 0 {
		return
	}
	n, err := s.countViolations(ctx, group)
	if err != nil {
		s.log.Warn("policies violating constraints not counted", "agent_group", group, "err", err)
		return
	}
	s.violatingMu.Lock()
	s.violatingN[group] = n
	s.violatingMu.Unlock()
	s.violating.WithLabelValues(group).Set(float64(n))
}

// countOnce counts the violating policies of group if this replica has not yet, so that
// the gauge is there after a start without waiting for a change: the config of every
// agent calls it.
func (s *Service) countOnce(ctx context.Context, group string) {
	s.violatingMu.Lock()
	_, counted := s.violatingN[group]
	s.violatingMu.Unlock()
	if !counted {
		s.recountViolations(ctx, group, true)
	}
}

func (s *Service) countViolations(ctx context.Context, group string) (int, error) {
	g, err := s.st.GetAgentGroup(ctx, group)
	if err != nil {
		return 0, err
	}
	ps, err := s.st.PoliciesOfGroup(ctx, group)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range ps {
		vs, err := policy.Violations(g, &ps[i])
		if err != nil {
			return 0, err
		}
		if len(vs) > 0 {
			n++
		}
	}
	return n, nil
}
