package auth

import (
	"errors"
	"fmt"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// This file is the one place that decides what a portal token reaches (docs/security.md,
// "Authorization model"). Routes and services ask it; none of them compares prefixes
// itself.
//
// A token reaches a repository when one of its owner prefixes starts the repository's
// lower-cased "owner/name" (no prefixes: every repository). An agent group serves the
// repositories its owner prefixes cover in the same way (no prefixes: every owner, as
// every group did before groups had prefixes).
//
// A token covers a group, and so may see and manage it, its agents and its registration
// tokens, when every prefix of the group starts with one of the token's prefixes: then
// every repository the group may ever serve is one the token reaches. A token without
// prefixes covers every group. A group without prefixes serves every owner, so a token
// with prefixes never covers it: shared groups, the default group among them, are managed
// only by tokens without prefixes. A policy may still name a shared group (it serves the
// policy's repository), which is what the default group is for.

// ErrForbidden means the token is valid but what it asked for is outside its owner
// prefixes. The API answers it 403 forbidden with the error's message.
var ErrForbidden = errors.New("forbidden")

// covers reports whether one of prefixes starts key (lower-cased); no prefixes cover all.
func covers(prefixes []string, key string) bool {
	if len(prefixes) == 0 {
		return true
	}
	key = strings.ToLower(key)
	for _, p := range prefixes {
		if strings.HasPrefix(key, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// Prefixed reports whether the principal is confined to owner prefixes.
func (p *Principal) Prefixed() bool { return len(p.OwnerPrefixes) > 0 }

// CoversRepo reports whether the principal may act on the repository "owner/name" (any
// case).
func (p *Principal) CoversRepo(repository string) bool {
	return covers(p.OwnerPrefixes, repository)
}

// CoversPrefixes reports whether every repository that prefixes reach is one the
// principal reaches. No prefixes means every repository: only a principal without
// prefixes covers that.
func (p *Principal) CoversPrefixes(prefixes []string) bool {
	return PrefixesWithin(p.OwnerPrefixes, prefixes)
}

// PrefixesWithin reports whether every repository that inner reaches is one that outer
// reaches (no prefixes: every repository).
func PrefixesWithin(outer, inner []string) bool {
	if len(outer) == 0 {
		return true
	}
	if len(inner) == 0 {
		return false
	}
	for _, p := range inner {
		if !covers(outer, p) {
			return false
		}
	}
	return true
}

// CoversGroup reports whether the principal may see and manage the group g: its agents,
// its registration tokens, the group itself.
func (p *Principal) CoversGroup(g *store.AgentGroup) bool {
	return p.CoversPrefixes(g.OwnerPrefixes)
}

// AuthorizeGroup returns nil when the principal covers g, and an ErrForbidden saying the
// rule otherwise; action says what was refused ("create registration tokens of").
func (p *Principal) AuthorizeGroup(g *store.AgentGroup, action string) error {
	if p.CoversGroup(g) {
		return nil
	}
	return fmt.Errorf("%w: token %q (owner prefixes %v) may not %s agent group %q: %s",
		ErrForbidden, p.Name, p.OwnerPrefixes, action, g.Name, groupRule(g))
}

// AuthorizeAgent is AuthorizeGroup for an agent of group g; it names the agent, not the
// group, to a token that does not cover the group.
func (p *Principal) AuthorizeAgent(agentID string, g *store.AgentGroup, action string) error {
	if p.CoversGroup(g) {
		return nil
	}
	return fmt.Errorf("%w: token %q (owner prefixes %v) may not %s agent %s: its agent group is not covered by the token's owner prefixes (a token with owner prefixes manages only the agents of groups whose owner prefixes are all within its own)",
		ErrForbidden, p.Name, p.OwnerPrefixes, action, agentID)
}

// AuthorizeNewGroup decides whether the principal may create a group that serves
// prefixes.
func (p *Principal) AuthorizeNewGroup(name string, prefixes []string) error {
	if p.CoversPrefixes(prefixes) {
		return nil
	}
	if len(prefixes) == 0 {
		return fmt.Errorf("%w: token %q (owner prefixes %v) may not create agent group %q that serves every owner: only a token without owner prefixes may",
			ErrForbidden, p.Name, p.OwnerPrefixes, name)
	}
	return fmt.Errorf("%w: token %q (owner prefixes %v) may not create agent group %q with owner prefixes %v: every prefix of the group must be within one of the token's",
		ErrForbidden, p.Name, p.OwnerPrefixes, name, prefixes)
}

func groupRule(g *store.AgentGroup) string {
	if len(g.OwnerPrefixes) == 0 {
		return "it serves every owner, so only a token without owner prefixes may"
	}
	return "a token with owner prefixes may only if every owner prefix of the group is within one of its own"
}

// GroupServes reports whether the group g may serve the repository "owner/name".
func GroupServes(g *store.AgentGroup, repository string) bool {
	return covers(g.OwnerPrefixes, repository)
}

// CheckPolicyGroup refuses a policy of repository that names the group g when g does not
// serve that repository: a 400 on agent_group. (That the token reaches the repository is
// checked before, on the path.)
func CheckPolicyGroup(g *store.AgentGroup, repository string) error {
	if GroupServes(g, repository) {
		return nil
	}
	return portalapi.Invalid("agent_group",
		"agent group %q does not serve repository %s: a policy may name a group only if the repository is within the group's owner prefixes", g.Name, repository)
}

// NormalizePrefixes checks owner prefixes of a request (field names them, e.g.
// "owner_prefixes") and returns them lower-cased, without duplicates.
func NormalizePrefixes(field string, in []string) ([]string, []portalapi.FieldError) {
	var errs []portalapi.FieldError
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, p := range in {
		if len(p) < 1 || len(p) > 140 || strings.TrimSpace(p) != p {
			errs = append(errs, portalapi.FieldError{Field: fmt.Sprintf("%s[%d]", field, i),
				Message: fmt.Sprintf("must be 1-140 characters without surrounding spaces, got %q", p)})
			continue
		}
		p = strings.ToLower(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, errs
}

// AuthorizeConstraints decides whether the principal may set the constraints
// (guardrails) of the group name: only a principal without owner prefixes may. The
// constraints fence what a team's policies may run on the group's hosts, so the team
// itself may not loosen them, not even on a group it covers.
func (p *Principal) AuthorizeConstraints(name string) error {
	if !p.Prefixed() {
		return nil
	}
	return fmt.Errorf("%w: token %q (owner prefixes %v) may not set the constraints of agent group %q: only a token without owner prefixes (an operator's) may",
		ErrForbidden, p.Name, p.OwnerPrefixes, name)
}
