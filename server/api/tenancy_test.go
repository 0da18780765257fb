package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/shared/protocol"
)

// The tests of this file are the tenancy of agent groups (issue 11, findings 1 and 5, and
// docs/security.md#authorization-model). TestPrefixedAgentsWriteCannotTakeOver and
// TestPrefixedAgentsReadSeesNoForeignAgents use only the API as it was before groups had
// owner prefixes, so that they ran, and failed, against it.

// sharedGroupWithAgent makes the situation of the findings: another owner's repository
// (beta/www) served by an agent of the default group, which serves every owner, and a
// registration token of that group made by the operator.
func sharedGroupWithAgent(t *testing.T, e *agentEnv) (agent *agentClient, regTokenID string) {
	t.Helper()
	ctx := t.Context()
	if _, err := e.admin.CreatePolicy(ctx, "beta/www", policyRequest("linux")); err != nil {
		t.Fatal(err)
	}
	agent = e.register(e.registrationToken("default", 1), "beta-host")
	agent.heartbeat(protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{
		{Name: "b1", Repository: "beta/www", Policy: "linux", State: protocol.RunnerIdle},
	}})
	if _, cfg := agent.config("", ""); len(cfg.Policies) != 1 {
		t.Fatalf("the agent does not serve beta/www: %+v", cfg)
	}
	tok, err := e.admin.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Description: "beta rack"})
	if err != nil {
		t.Fatal(err)
	}
	return agent, tok.ID
}

// TestPrefixedAgentsWriteCannotTakeOver is finding 1: a token confined to acme/ with
// agents:write could create a registration token for a group that serves other owners
// (its agent would then get their jobs and mint runner credentials for their
// repositories) and revoke their agents. Now it is refused, and nothing changes.
func TestPrefixedAgentsWriteCannotTakeOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		beta, regID := sharedGroupWithAgent(t, e)
		acme := e.client(e.token("acme-ops", []string{portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}, "acme/"))

		if tok, err := acme.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{}); !client.IsForbidden(err) {
			t.Errorf("registration token for the shared group through an acme/ token = %+v, %v, want 403", tok, err)
		} else if msg := apiError(t, err).Message; !strings.Contains(msg, `agent group "default"`) || !strings.Contains(msg, "serves every owner") {
			t.Errorf("the 403 does not say the rule: %s", msg)
		}
		if err := acme.RevokeAgent(ctx, beta.id); !client.IsForbidden(err) {
			t.Errorf("revoking another owner's agent through an acme/ token = %v, want 403", err)
		}
		if err := acme.DeleteRegistrationToken(ctx, "default", regID); !client.IsForbidden(err) {
			t.Errorf("deleting the shared group's registration token through an acme/ token = %v, want 403", err)
		}
		if err := acme.DeleteAgentGroup(ctx, "default"); !client.IsForbidden(err) {
			t.Errorf("deleting the shared group through an acme/ token = %v, want 403", err)
		}

		// Outcomes: the agent still serves beta/www, the group has only the operator's
		// registration tokens, and no write was audited for the acme/ token.
		beta.heartbeat(protocol.HeartbeatRequest{})
		if _, cfg := beta.config("", ""); len(cfg.Policies) != 1 {
			t.Fatalf("beta's agent lost its policy: %+v", cfg)
		}
		if a, err := e.admin.GetAgent(ctx, beta.id); err != nil || a.Status != portalapi.AgentStatusActive {
			t.Fatalf("beta's agent = %+v, %v", a, err)
		}
		toks, err := e.admin.ListRegistrationTokens(ctx, "default")
		if err != nil || len(toks.Items) != 2 {
			t.Fatalf("registration tokens of default = %+v, %v, want the operator's 2", toks, err)
		}
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{Actor: "token:acme-ops"})
		if err != nil || len(events.Items) != 0 {
			t.Fatalf("audit events of the acme/ token = %+v, %v", events, err)
		}
	})
}

// TestPrefixedAgentsReadSeesNoForeignAgents is finding 5: a token confined to acme/ with
// agents:read listed every agent with the runner and job counts of other owners'
// repositories, and other groups' registration tokens.
func TestPrefixedAgentsReadSeesNoForeignAgents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		beta, regID := sharedGroupWithAgent(t, e)
		acme := e.client(e.token("acme-view", []string{portalapi.ScopeAgentsRead}, "acme/"))

		for _, q := range []client.AgentQuery{{}, {Group: "default"}, {Status: portalapi.AgentStatusActive}} {
			l, err := acme.ListAgents(ctx, q)
			if err != nil || len(l.Items) != 0 {
				t.Errorf("agents %+v through an acme/ token = %+v, %v, want none", q, l, err)
			}
		}
		if a, err := acme.GetAgent(ctx, beta.id); !client.IsForbidden(err) {
			t.Errorf("another owner's agent through an acme/ token = %+v, %v, want 403", a, err)
		}
		if l, err := acme.ListRegistrationTokens(ctx, "default"); !client.IsForbidden(err) {
			t.Errorf("registration tokens of the shared group through an acme/ token = %+v, %v, want 403", l, err)
		}
		if tok, err := acme.GetRegistrationToken(ctx, "default", regID); !client.IsForbidden(err) {
			t.Errorf("a registration token of the shared group through an acme/ token = %+v, %v, want 403", tok, err)
		}
		if l, err := acme.ListAgentGroups(ctx); err != nil || len(l.Items) != 0 {
			t.Errorf("groups through an acme/ token = %+v, %v, want none", l, err)
		}
		if g, err := acme.GetAgentGroup(ctx, "default"); !client.IsForbidden(err) {
			t.Errorf("the shared group through an acme/ token = %+v, %v, want 403", g, err)
		}
		// A token without prefixes still sees everything.
		if l, err := e.admin.ListAgents(ctx, client.AgentQuery{}); err != nil || len(l.Items) != 1 || l.Items[0].Runners["idle"] != 1 {
			t.Fatalf("agents through the admin token = %+v, %v", l, err)
		}
		reader := e.client(e.token("reader", []string{portalapi.ScopeAgentsRead}))
		if l, err := reader.ListRegistrationTokens(ctx, "default"); err != nil || len(l.Items) != 2 {
			t.Fatalf("registration tokens through an unprefixed agents:read token = %+v, %v", l, err)
		}
	})
}

// TestTenantGroups: a group with owner prefixes belongs to its tenant. The tenant's token
// creates it, lets agents into it and manages them; a policy names it only for a
// repository within its prefixes; other tenants neither see nor touch it.
func TestTenantGroups(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		all := []string{portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite, portalapi.ScopePoliciesRead, portalapi.ScopePoliciesWrite}
		acme := e.client(e.token("acme", all, "acme/"))
		beta := e.client(e.token("beta", all, "Beta/"))

		// Creating groups: a prefixed token gets its own prefixes, may narrow them, may
		// not widen them; the operator's groups serve every owner unless told otherwise.
		ag, err := acme.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "acme-ci"})
		if err != nil || !slices.Equal(ag.OwnerPrefixes, []string{"acme/"}) {
			t.Fatalf("acme-ci = %+v, %v", ag, err)
		}
		if g, err := acme.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "acme-web", OwnerPrefixes: []string{"ACME/web-"}}); err != nil ||
			!slices.Equal(g.OwnerPrefixes, []string{"acme/web-"}) {
			t.Fatalf("acme-web = %+v, %v", g, err)
		}
		if _, err := acme.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "grab", OwnerPrefixes: []string{"acme/", "beta/"}}); !client.IsForbidden(err) {
			t.Fatalf("a group wider than the token = %v, want 403", err)
		}
		if _, err := acme.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "bad", OwnerPrefixes: []string{" acme/"}}); client.StatusCode(err) != http.StatusBadRequest {
			t.Fatalf("a bad prefix = %v, want 400", err)
		} else {
			wantStatus(t, err, http.StatusBadRequest, "owner_prefixes[0]")
		}
		if _, err := beta.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "beta-ci"}); err != nil {
			t.Fatal(err)
		}
		if g, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "shared"}); err != nil || len(g.OwnerPrefixes) != 0 {
			t.Fatalf("the operator's group = %+v, %v", g, err)
		}

		// Policies name a group only for a repository within its prefixes, whoever writes.
		req := policyRequest("linux")
		req.AgentGroup = "beta-ci"
		_, err = acme.CreatePolicy(ctx, "acme/web", req)
		wantStatus(t, err, http.StatusBadRequest, "agent_group")
		_, err = e.admin.CreatePolicy(ctx, "acme/web", req)
		wantStatus(t, err, http.StatusBadRequest, "agent_group")
		req.AgentGroup = "acme-web"
		_, err = acme.CreatePolicy(ctx, "acme/api", req)
		wantStatus(t, err, http.StatusBadRequest, "agent_group")
		req.AgentGroup = "acme-ci"
		if _, err := acme.CreatePolicy(ctx, "Acme/Web", req); err != nil {
			t.Fatalf("a policy in the tenant's own group = %v", err)
		}
		_, err = acme.PatchPolicy(ctx, "acme/web", "linux", map[string]any{"agent_group": "beta-ci"}, "")
		wantStatus(t, err, http.StatusBadRequest, "agent_group")
		req.AgentGroup = "beta-ci"
		_, err = acme.ReplacePolicy(ctx, "acme/web", "linux", req, "")
		wantStatus(t, err, http.StatusBadRequest, "agent_group")
		for _, group := range []string{"shared", "default"} {
			req.AgentGroup = group
			if _, err := acme.CreatePolicy(ctx, "acme/other-"+group, req); err != nil {
				t.Fatalf("a policy in the shared group %s = %v", group, err)
			}
		}
		if p, err := acme.GetPolicy(ctx, "acme/web", "linux"); err != nil || p.AgentGroup != "acme-ci" {
			t.Fatalf("acme/web after the refused writes = %+v, %v", p, err)
		}

		// Each tenant lets its agents into its own group only.
		reg, err := acme.CreateRegistrationToken(ctx, "acme-ci", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		acmeAgent := e.register(reg.Token, "acme-host")
		acmeAgent.heartbeat(protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{
			{Name: "a1", Repository: "acme/web", Policy: "linux", State: protocol.RunnerBusy},
		}})
		if _, err := acme.CreateRegistrationToken(ctx, "beta-ci", portalapi.RegistrationTokenRequest{}); !client.IsForbidden(err) {
			t.Fatalf("acme's registration token for beta's group = %v, want 403", err)
		}
		breg, err := beta.CreateRegistrationToken(ctx, "beta-ci", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		betaAgent := e.register(breg.Token, "beta-host")

		// What acme sees: its groups, its agent with its runners, its tokens; none of beta's.
		groups, err := acme.ListAgentGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range groups.Items {
			names = append(names, g.Name)
		}
		if strings.Join(names, " ") != "acme-ci acme-web" {
			t.Fatalf("acme's groups = %v", names)
		}
		agents, err := acme.ListAgents(ctx, client.AgentQuery{})
		if err != nil || len(agents.Items) != 1 || agents.Items[0].ID != acmeAgent.id ||
			strings.Join(agents.Items[0].Repositories, " ") != "Acme/Web" || agents.Items[0].Runners["busy"] != 1 {
			t.Fatalf("acme's agents = %+v, %v", agents, err)
		}
		if l, err := acme.ListRegistrationTokens(ctx, "acme-ci"); err != nil || len(l.Items) != 1 {
			t.Fatalf("acme's registration tokens = %+v, %v", l, err)
		}
		for name, err := range map[string]error{
			"get beta's group":                 func() error { _, err := acme.GetAgentGroup(ctx, "beta-ci"); return err }(),
			"delete beta's group":              acme.DeleteAgentGroup(ctx, "beta-ci"),
			"list beta's registration tokens":  func() error { _, err := acme.ListRegistrationTokens(ctx, "beta-ci"); return err }(),
			"get beta's registration token":    func() error { _, err := acme.GetRegistrationToken(ctx, "beta-ci", breg.ID); return err }(),
			"delete beta's registration token": acme.DeleteRegistrationToken(ctx, "beta-ci", breg.ID),
			"get beta's agent":                 func() error { _, err := acme.GetAgent(ctx, betaAgent.id); return err }(),
			"revoke beta's agent":              acme.RevokeAgent(ctx, betaAgent.id),
			"delete the operator's group":      acme.DeleteAgentGroup(ctx, "shared"),
		} {
			if !client.IsForbidden(err) {
				t.Errorf("%s through acme's token = %v, want 403", name, err)
			}
		}
		if a, err := e.admin.GetAgent(ctx, betaAgent.id); err != nil || a.Status != portalapi.AgentStatusActive {
			t.Fatalf("beta's agent = %+v, %v", a, err)
		}
		// The operator sees and manages everything; acme manages its own.
		if l, err := e.admin.ListAgents(ctx, client.AgentQuery{}); err != nil || len(l.Items) != 2 {
			t.Fatalf("the operator's agents = %+v, %v", l, err)
		}
		if err := acme.RevokeAgent(ctx, acmeAgent.id); err != nil {
			t.Fatalf("acme revokes its agent: %v", err)
		}
		if err := acme.DeleteRegistrationToken(ctx, "acme-ci", reg.ID); err != nil {
			t.Fatalf("acme deletes its registration token: %v", err)
		}
		if err := acme.DeleteAgentGroup(ctx, "acme-web"); err != nil {
			t.Fatalf("acme deletes its group: %v", err)
		}
	})
}

// TestFencingAGroup: an operator gives an existing group (here default, which serves every
// owner after the upgrade) owner prefixes; prefixes that would leave out one of its
// policies are refused, and a prefixed token may change only a group it covers, within
// its own prefixes.
func TestFencingAGroup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		for _, repo := range []string{"acme/web", "beta/www"} {
			if _, err := e.admin.CreatePolicy(ctx, repo, policyRequest("linux")); err != nil {
				t.Fatal(err)
			}
		}
		acme := e.client(e.token("acme", []string{portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}, "acme/"))
		beta := e.client(e.token("beta", []string{portalapi.ScopeAgentsWrite}, "beta/"))
		fence := []string{"acme/"}

		_, err := e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &fence})
		if !client.IsConflict(err) || !strings.Contains(apiError(t, err).Message, "beta/www") {
			t.Fatalf("fencing default while beta/www's policy names it = %v, want 409 naming beta/www", err)
		}
		if _, err := acme.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &fence}); !client.IsForbidden(err) {
			t.Fatalf("an acme/ token fencing the shared group = %v, want 403", err)
		}
		if err := e.admin.DeletePolicy(ctx, "beta/www", "linux", ""); err != nil {
			t.Fatal(err)
		}
		g, err := e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{"ACME/"}})
		if err != nil || !slices.Equal(g.OwnerPrefixes, fence) || g.PolicyCount != 1 {
			t.Fatalf("default fenced = %+v, %v", g, err)
		}
		_, err = e.admin.CreatePolicy(ctx, "beta/www", policyRequest("linux"))
		wantStatus(t, err, http.StatusBadRequest, "agent_group")

		// default is acme's now: its token manages it, within acme/ only; beta's does not.
		acmeReg, err := acme.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatalf("acme's registration token for the fenced group = %v", err)
		}
		for _, prefixes := range [][]string{{}, {"acme/", "beta/"}} {
			if _, err := acme.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &prefixes}); !client.IsForbidden(err) {
				t.Fatalf("an acme/ token widening its group to %q = %v, want 403", prefixes, err)
			}
		}
		if _, err := beta.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{"beta/"}}); !client.IsForbidden(err) {
			t.Fatalf("beta's token changing acme's group = %v, want 403", err)
		}
		desc := "acme's build hosts"
		if g, err := acme.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{Description: &desc}); err != nil ||
			g.Description != desc || !slices.Equal(g.OwnerPrefixes, fence) {
			t.Fatalf("description through acme's token = %+v, %v", g, err)
		}
		_, err = e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{""}})
		wantStatus(t, err, http.StatusBadRequest, "owner_prefixes[0]")
		if _, err := e.admin.UpdateAgentGroup(ctx, "nope", portalapi.AgentGroupPatch{}); !client.IsNotFound(err) {
			t.Fatalf("unknown group = %v", err)
		}
		resp, body := e.do(http.MethodPatch, "/api/v1/agent-groups/default", adminSecret, portalapi.MergePatchMediaType, `{"owner_prefixes":null}`)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"owner_prefixes":["acme/"]`) {
			t.Fatalf("null patch = %d %s", resp.StatusCode, body)
		}
		resp, body = e.do(http.MethodPatch, "/api/v1/agent-groups/default", adminSecret, portalapi.MergePatchMediaType, `{"name":"other"}`)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("renaming patch = %d %s", resp.StatusCode, body)
		}
		// Opening it again would hand every owner's jobs to agents that acme let in: not
		// while acme's registration token (or an agent) is in the group.
		_, err = e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{}})
		if !client.IsConflict(err) || !strings.Contains(apiError(t, err).Message, "1 usable registration tokens") {
			t.Fatalf("widening a group with a registration token = %v, want 409", err)
		}
		if err := e.admin.DeleteRegistrationToken(ctx, "default", acmeReg.ID); err != nil {
			t.Fatal(err)
		}
		if g, err := e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{}}); err != nil || len(g.OwnerPrefixes) != 0 {
			t.Fatalf("default opened again = %+v, %v", g, err)
		}
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{Action: "agent_group.update"})
		if err != nil || len(events.Items) != 4 {
			t.Fatalf("agent_group.update events = %+v, %v, want 4", events, err)
		}
	})
}

// TestFencingRacesPolicyWrites: a policy write for a repository outside the new prefixes
// and the change of a group's prefixes, at once, never both succeed (the group's row lock,
// store.LockAgentGroup): the group never serves a policy outside its prefixes.
func TestFencingRacesPolicyWrites(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		fence := []string{"acme/"}
		for i := range 8 {
			group := "race-" + string(rune('a'+i))
			if _, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: group}); err != nil {
				t.Fatal(err)
			}
			req := policyRequest("linux")
			req.AgentGroup = group
			var policyErr, fenceErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, policyErr = e.admin.CreatePolicy(ctx, "beta/www-"+group, req)
			}()
			_, fenceErr = e.admin.UpdateAgentGroup(ctx, group, portalapi.AgentGroupPatch{OwnerPrefixes: &fence})
			<-done
			switch {
			case policyErr == nil && fenceErr == nil:
				t.Fatalf("%s: both the policy of beta/www and the fence to acme/ were accepted", group)
			case policyErr == nil && !client.IsConflict(fenceErr):
				t.Fatalf("%s: fence after the policy = %v, want 409", group, fenceErr)
			case fenceErr == nil && client.StatusCode(policyErr) != http.StatusBadRequest:
				t.Fatalf("%s: policy after the fence = %v, want 400", group, policyErr)
			case policyErr != nil && fenceErr != nil:
				t.Fatalf("%s: both refused: %v; %v", group, policyErr, fenceErr)
			}
		}
	})
}

// TestWideningAGroupWithAgents: a group whose agents a tenant let in cannot be made to
// serve more (another owner, or everyone) while those agents are not revoked: they would
// get the other owners' jobs and runner credentials. Narrowing is always allowed.
func TestWideningAGroupWithAgents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		acme := e.client(e.token("acme", []string{portalapi.ScopeAgentsWrite}, "acme/"))
		if _, err := acme.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "acme-ci"}); err != nil {
			t.Fatal(err)
		}
		reg, err := acme.CreateRegistrationToken(ctx, "acme-ci", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		agent := e.register(reg.Token, "acme-host") // uses the token up
		for _, prefixes := range [][]string{{}, {"acme/", "beta/"}, {"acme"}} {
			_, err := e.admin.UpdateAgentGroup(ctx, "acme-ci", portalapi.AgentGroupPatch{OwnerPrefixes: &prefixes})
			if !client.IsConflict(err) || !strings.Contains(apiError(t, err).Message, "1 agents that are not revoked") {
				t.Fatalf("widening acme-ci to %q with acme's agent in it = %v, want 409", prefixes, err)
			}
		}
		if g, err := e.admin.UpdateAgentGroup(ctx, "acme-ci", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{"acme/web-"}}); err != nil ||
			!slices.Equal(g.OwnerPrefixes, []string{"acme/web-"}) {
			t.Fatalf("narrowing = %+v, %v", g, err)
		}
		if err := acme.RevokeAgent(ctx, agent.id); err != nil {
			t.Fatal(err)
		}
		if g, err := e.admin.UpdateAgentGroup(ctx, "acme-ci", portalapi.AgentGroupPatch{OwnerPrefixes: &[]string{"acme/", "beta/"}}); err != nil ||
			len(g.OwnerPrefixes) != 2 {
			t.Fatalf("widening a group without members = %+v, %v", g, err)
		}
	})
}
