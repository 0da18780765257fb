package garoctl

import (
	"bytes"
	"encoding/json"
	"fmt"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// KindPolicy is the kind of a policy document, what policy create -f reads.
const KindPolicy = "Policy"

// policyDoc is a policy as garoctl reads and writes it in YAML: the repository and the
// fields of a PolicyRequest. "garoctl policy get -o yaml" prints one; policy create -f reads them.
type policyDoc struct {
	Kind       string `json:"kind"`
	Repository string `json:"repository"`
	portalapi.PolicyRequest
	// fields are the keys the document names, as JSON values: apply overlays them on
	// what the server holds, so a field a file leaves out keeps the server's value.
	fields map[string]any
}

func (d policyDoc) key() string { return d.Repository + "/" + d.Name }

// docOf is the document of a policy as the server holds it, every default explicit.
func docOf(p portalapi.Policy) policyDoc {
	eph, en := p.Ephemeral, p.Enabled
	ig, bt := p.IdleGrace, p.BootstrapTimeout
	labels := p.Labels
	if labels == nil {
		labels = []string{}
	}
	return policyDoc{Kind: KindPolicy, Repository: p.Repository, PolicyRequest: portalapi.PolicyRequest{
		Name: p.Name, Labels: labels, MinIdle: p.MinIdle, MaxRunners: p.MaxRunners,
		Ephemeral: &eph, IdleGrace: &ig, BootstrapTimeout: &bt, AgentGroup: p.AgentGroup,
		Enabled: &en, Provider: p.Provider, Runner: p.Runner, Schedule: p.Schedule,
		RegistrationLevel: p.RegistrationLevel, RunnerGroup: p.RunnerGroup, Priority: p.Priority,
	}}
}

// parsePolicyDoc reads one YAML (or JSON) document; unknown fields are an error, so that
// a typo does not silently fall back to a default.
func parsePolicyDoc(src string, doc []byte) (policyDoc, error) {
	var d policyDoc
	j, err := yamlToJSON(doc)
	if err != nil {
		return d, fmt.Errorf("%s: not YAML: %w", src, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("%s: %w", src, err)
	}
	if err := json.Unmarshal(j, &d.fields); err != nil {
		return d, fmt.Errorf("%s: %w", src, err)
	}
	if d.Kind != KindPolicy {
		return d, fmt.Errorf("%s: kind must be %q, not %q", src, KindPolicy, d.Kind)
	}
	if d.Repository == "" || d.Name == "" {
		return d, fmt.Errorf("%s: a policy needs repository (owner/name) and name", src)
	}
	return d, nil
}

// fillFrom completes the optional fields d leaves out with cur's values: a field a file
// does not name keeps what the server holds (its default when the policy is new).
func (d policyDoc) fillFrom(cur policyDoc) policyDoc {
	if d.Ephemeral == nil {
		d.Ephemeral = cur.Ephemeral
	}
	if d.IdleGrace == nil {
		d.IdleGrace = cur.IdleGrace
	}
	if d.BootstrapTimeout == nil {
		d.BootstrapTimeout = cur.BootstrapTimeout
	}
	if d.Enabled == nil {
		d.Enabled = cur.Enabled
	}
	if d.AgentGroup == "" {
		d.AgentGroup = cur.AgentGroup
	}
	if d.RegistrationLevel == "" {
		d.RegistrationLevel = cur.RegistrationLevel
	}
	if d.RunnerGroup == "" && d.RegistrationLevel == cur.RegistrationLevel {
		d.RunnerGroup = cur.RunnerGroup
	}
	if d.Labels == nil {
		d.Labels = []string{}
	}
	return d
}

// render is d's YAML form, the text diffs compare.
func (d policyDoc) render() string {
	b, err := toYAML(d)
	if err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	return string(b)
}
