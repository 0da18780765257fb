package policy

import (
	"encoding/json"
	"fmt"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// toAPI maps a stored policy to its wire form.
func toAPI(p *store.Policy) (*portalapi.Policy, error) {
	d, err := p.Decode()
	if err != nil {
		return nil, err
	}
	return &portalapi.Policy{
		ID: p.ID, Repository: p.Repository(), Name: p.Name, Labels: d.Labels,
		MinIdle: p.MinIdle, MaxRunners: p.MaxRunners, Ephemeral: p.Ephemeral,
		IdleGrace: portalapi.Duration(p.IdleGrace), BootstrapTimeout: portalapi.Duration(p.BootstrapTimeout),
		AgentGroup: p.AgentGroup, Enabled: p.Enabled, Provider: p.Provider, Runner: d.Runner, Schedule: d.Schedule,
		RegistrationLevel: p.RegistrationLevel, RunnerGroup: p.RunnerGroup, Priority: p.Priority,
		Version: p.Version, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	}, nil
}

// fromRequest fills the writable columns of p from a validated request (defaults applied).
func fromRequest(p *store.Policy, req *portalapi.PolicyRequest) error {
	spec, err := json.Marshal(req.Runner)
	if err != nil {
		return fmt.Errorf("encode runner spec: %w", err)
	}
	p.Name = req.Name
	p.Labels = append(store.StringList{}, req.Labels...)
	p.MinIdle, p.MaxRunners = req.MinIdle, req.MaxRunners
	p.Ephemeral, p.Enabled = *req.Ephemeral, *req.Enabled
	p.IdleGrace = time.Duration(*req.IdleGrace)
	p.BootstrapTimeout = time.Duration(*req.BootstrapTimeout)
	p.AgentGroup, p.Provider, p.RunnerSpec = req.AgentGroup, req.Provider, spec
	p.RegistrationLevel, p.RunnerGroup = req.RegistrationLevel, req.RunnerGroup
	p.Priority = req.Priority
	schedule := req.Schedule
	if schedule == nil {
		schedule = []portalapi.ScheduleWindow{}
	}
	if p.Schedule, err = json.Marshal(schedule); err != nil {
		return fmt.Errorf("encode schedule: %w", err)
	}
	return nil
}

// Violations returns what of the stored policy p breaks the constraints of its group g
// (nil: nothing): a policy written before its group's constraints were tightened.
func Violations(g *store.AgentGroup, p *store.Policy) ([]guardrails.Violation, error) {
	d, err := p.Decode()
	if err != nil {
		return nil, err
	}
	s := guardrails.Subject{Repository: p.Repository(), MinIdle: p.MinIdle, MaxRunners: p.MaxRunners, Runner: d.Runner}
	for _, w := range d.Schedule {
		s.ScheduleMinIdle = append(s.ScheduleMinIdle, w.MinIdle)
	}
	return guardrails.Check(g.Name, g.Constraints, s), nil
}
