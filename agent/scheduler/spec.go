package scheduler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/spec"
)

// SpecOf fingerprints what a runner is made from: the policy's runner definition, its
// labels (they go into the runner's registration), whether it is ephemeral and the
// provider. Changing any of them makes idle runners outdated; changing min_idle,
// max_runners, the grace or the schedule does not. The fingerprint is stored as the
// runner's LabelSpec, so it survives an agent restart.
func SpecOf(pol protocol.Policy) string {
	labels := make([]string, len(pol.Labels))
	for i, l := range pol.Labels {
		labels[i] = strings.ToLower(l)
	}
	slices.Sort(labels)
	b, err := json.Marshal(struct {
		Labels    []string        `json:"labels"`
		Ephemeral bool            `json:"ephemeral"`
		Provider  string          `json:"provider"`
		Runner    spec.RunnerSpec `json:"runner"`
	}{labels, pol.Ephemeral, pol.Provider, pol.Runner})
	if err != nil { // a RunnerSpec always marshals; be safe: no fingerprint, no recycling
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Specs fingerprints every policy of cfg (SpecOf) by policy id, for Input.Specs: the
// scheduler works them out once per config, not once per tick (thousands of policies
// took a few milliseconds of every tick).
func Specs(cfg *protocol.Config) map[string]string {
	if cfg == nil {
		return nil
	}
	out := make(map[string]string, len(cfg.Policies))
	for _, pol := range cfg.Policies {
		if pol.ID != "" {
			out[pol.ID] = SpecOf(pol)
		}
	}
	return out
}

// ErrConstraints wraps the refusal of a runner whose policy breaks its group's
// constraints (Violations).
var ErrConstraints = errors.New("the policy breaks its agent group's constraints")

// Violations checks pol against the constraints of the agent's group (cfg.Constraints,
// the defaults when an older server sent none), as the server did when the policy was
// written; nil when it fits. The agent refuses to create a runner of a policy that does
// not, before it asks for credentials.
func Violations(cfg *protocol.Config, pol protocol.Policy) error {
	var c guardrails.Constraints
	group := ""
	if cfg != nil {
		c, group = cfg.Constraints, cfg.Group
	}
	s := guardrails.Subject{Repository: pol.Repository, MinIdle: pol.MinIdle, MaxRunners: pol.MaxRunners, Runner: pol.Runner}
	for _, w := range pol.Schedule {
		s.ScheduleMinIdle = append(s.ScheduleMinIdle, w.MinIdle)
	}
	vs := guardrails.Check(group, c, s)
	if len(vs) == 0 {
		return nil
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return fmt.Errorf("%w: %s", ErrConstraints, strings.Join(parts, "; "))
}

// specOf is SpecOf(pol), from in.Specs when it is there.
func specOf(in Input, pol *protocol.Policy) string {
	if s, ok := in.Specs[pol.ID]; ok && pol.ID != "" {
		return s
	}
	return SpecOf(*pol)
}
