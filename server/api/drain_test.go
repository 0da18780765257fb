package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/shared/protocol"
)

// beat sends a heartbeat and returns the server's answer.
func (c *agentClient) beat(req protocol.HeartbeatRequest) protocol.HeartbeatResponse {
	c.t.Helper()
	var resp protocol.HeartbeatResponse
	c.must(http.StatusOK, http.MethodPost, "/heartbeat", req, &resp)
	return resp
}

// serves returns the repositories of the agent's config.
func (c *agentClient) serves() string {
	c.t.Helper()
	_, cfg := c.config("", "")
	return strings.Join(cfg.Repositories, " ")
}

// TestDrainAgent: a drained agent hears drain=true in every heartbeat, keeps a repository
// while it runs a runner of it, then hands it to the other agent of its group; undrained,
// it takes work again. Both calls are idempotent, audited once per change, 404 for an
// unknown agent and 409 for a revoked one.
func TestDrainAgent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		tok := e.registrationToken("default", 2)
		x := e.register(tok, "host-x")
		busy := protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{
			{Name: "r1", Repository: "acme/web", Policy: "linux", State: protocol.RunnerBusy, JobID: 7},
		}}
		if resp := x.beat(busy); resp.Drain {
			t.Fatal("drain=true before any drain request")
		}
		if got := x.serves(); got != "acme/web" {
			t.Fatalf("x serves %q", got)
		}
		y := e.register(tok, "host-y")
		y.heartbeat(protocol.HeartbeatRequest{})
		if got := y.serves(); got != "" {
			t.Fatalf("y serves %q before the drain", got)
		}

		a, err := e.admin.DrainAgent(ctx, x.id)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Draining || a.DrainRequestedAt == nil || a.DrainRequestedBy != "token:bootstrap-admin" || a.State != protocol.AgentActive {
			t.Fatalf("drained agent = %+v", a)
		}
		first := *a.DrainRequestedAt
		// Its runner runs a job: x keeps the repository.
		if got := y.serves(); got != "" {
			t.Fatalf("y took acme/web while x's runner is busy: %q", got)
		}
		busy.State = protocol.AgentDraining
		for range 2 { // every answer repeats the command
			if resp := x.beat(busy); !resp.Drain {
				t.Fatal("heartbeat of a drained agent answered without drain")
			}
		}
		if got := x.serves(); got != "acme/web" {
			t.Fatalf("x lost acme/web while its runner is busy: %q", got)
		}
		// A new repository goes to y, not to the draining x; settling for it leaves
		// acme/web with x.
		if _, err := e.admin.CreatePolicy(ctx, "acme/api", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		x.beat(busy)
		if got := y.serves(); got != "acme/api" {
			t.Fatalf("y serves %q, want the new repository only", got)
		}
		if got := x.serves(); got != "acme/web" {
			t.Fatalf("x serves %q while its runner is busy, want acme/web", got)
		}
		e.clock.Advance(time.Second)
		if again, err := e.admin.DrainAgent(ctx, x.id); err != nil || !again.DrainRequestedAt.Equal(first) {
			t.Fatalf("drain again = %+v, %v; want the first request kept", again, err)
		}

		// The job ends: the repository moves to y at once.
		x.beat(protocol.HeartbeatRequest{State: protocol.AgentDraining, Runners: []protocol.RunnerStatus{
			{Name: "r1", Repository: "acme/web", Policy: "linux", State: protocol.RunnerFinished, JobID: 7},
		}})
		if got := y.serves(); got != "acme/api acme/web" {
			t.Fatalf("y serves %q after x's runner finished, want both repositories", got)
		}
		if got := x.serves(); got != "" {
			t.Fatalf("x still serves %q", got)
		}
		xv, err := e.admin.GetAgent(ctx, x.id)
		if err != nil || !xv.Draining || xv.State != protocol.AgentDraining || len(xv.Repositories) != 0 {
			t.Fatalf("x after the hand-over = %+v, %v", xv, err)
		}
		l, err := e.admin.ListAgents(ctx, client.AgentQuery{})
		if err != nil || len(l.Items) != 2 {
			t.Fatalf("agent list = %+v, %v", l, err)
		}
		for _, a := range l.Items {
			if a.Draining != (a.ID == x.id) {
				t.Errorf("listed agent %s: draining = %v, want it for x only", a.Name, a.Draining)
			}
		}

		// Undrain: the next answer carries no drain; x reports active and takes work again.
		a, err = e.admin.UndrainAgent(ctx, x.id)
		if err != nil || a.DrainRequestedAt != nil || a.DrainRequestedBy != "" {
			t.Fatalf("undrained agent = %+v, %v", a, err)
		}
		if !a.Draining {
			t.Errorf("undrained agent that has not heard it yet: draining = false, want true until it reports active")
		}
		if resp := x.beat(protocol.HeartbeatRequest{}); resp.Drain {
			t.Fatal("heartbeat after undrain answered drain")
		}
		if xv, _ := e.admin.GetAgent(ctx, x.id); xv.Draining {
			t.Fatalf("x reports active but shows draining: %+v", xv)
		}
		if _, err := e.admin.UndrainAgent(ctx, x.id); err != nil {
			t.Fatalf("undrain again = %v", err)
		}
		if _, err := e.admin.CreatePolicy(ctx, "acme/docs", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		x.heartbeat(protocol.HeartbeatRequest{})
		if got := x.serves(); got != "acme/docs" {
			t.Fatalf("undrained x serves %q, want the new repository (fewest owned)", got)
		}

		// Unknown and revoked agents.
		for _, f := range []func() error{
			func() error { _, err := e.admin.DrainAgent(ctx, "no-such-agent"); return err },
			func() error { _, err := e.admin.UndrainAgent(ctx, "no-such-agent"); return err },
		} {
			if err := f(); !client.IsNotFound(err) {
				t.Errorf("drain change of an unknown agent = %v, want 404", err)
			} else if !strings.Contains(apiError(t, err).Message, `agent "no-such-agent" not found`) {
				t.Errorf("404 message = %q", apiError(t, err).Message)
			}
		}
		if err := e.admin.RevokeAgent(ctx, y.id); err != nil {
			t.Fatal(err)
		}
		for _, f := range []func() error{
			func() error { _, err := e.admin.DrainAgent(ctx, y.id); return err },
			func() error { _, err := e.admin.UndrainAgent(ctx, y.id); return err },
		} {
			err := f()
			if !client.IsConflict(err) || !strings.Contains(apiError(t, err).Message, "revoked") {
				t.Errorf("drain change of a revoked agent = %v, want 409 saying it is revoked", err)
			}
		}

		// One audit event per change, with the state before and after.
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{ResourceID: x.id})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events.Items {
			actions = append(actions, ev.Action)
			if ev.Action != "agent.drain" && ev.Action != "agent.undrain" {
				continue
			}
			var before, after portalapi.Agent
			if json.Unmarshal(ev.Before, &before) != nil || json.Unmarshal(ev.After, &after) != nil ||
				(before.DrainRequestedAt == nil) != (ev.Action == "agent.drain") || (after.DrainRequestedAt == nil) != (ev.Action == "agent.undrain") ||
				ev.Actor != "token:bootstrap-admin" || ev.RequestID == "" {
				t.Errorf("audit event %s: actor %s, before %s, after %s", ev.Action, ev.Actor, ev.Before, ev.After)
			}
		}
		if strings.Join(actions, " ") != "agent.undrain agent.drain agent.register" {
			t.Errorf("audit actions of x = %v", actions)
		}
	})
}

// TestDrainTenancy: draining needs agents:write and a token that covers the agent's group
// (docs/security.md#authorization-model), exactly as revoking does. A tenant drains the
// agents of its own group; another tenant, or a tenant on the shared group, gets 403 and
// changes nothing.
func TestDrainTenancy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		shared, _ := sharedGroupWithAgent(t, e) // serves beta/www in default, which serves every owner
		write := []string{portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}
		acme := e.client(e.token("acme-ops", write, "acme/"))
		beta := e.client(e.token("beta-ops", write, "beta/"))
		if _, err := acme.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "acme-ci"}); err != nil {
			t.Fatal(err)
		}
		reg, err := acme.CreateRegistrationToken(ctx, "acme-ci", portalapi.RegistrationTokenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		own := e.register(reg.Token, "acme-host")
		own.heartbeat(protocol.HeartbeatRequest{})

		for name, c := range map[string]*client.Client{
			"an agents:read token":           e.client(e.token("reader", []string{portalapi.ScopeAgentsRead})),
			"a policies:write token":         e.client(e.token("writer", []string{portalapi.ScopePoliciesWrite})),
			"another tenant's token (beta/)": beta,
		} {
			if _, err := c.DrainAgent(ctx, own.id); !client.IsForbidden(err) {
				t.Errorf("drain of acme's agent through %s = %v, want 403", name, err)
			}
			if _, err := c.UndrainAgent(ctx, own.id); !client.IsForbidden(err) {
				t.Errorf("undrain of acme's agent through %s = %v, want 403", name, err)
			}
		}
		if _, err := acme.DrainAgent(ctx, shared.id); !client.IsForbidden(err) {
			t.Errorf("drain of the shared group's agent through an acme/ token = %v, want 403", err)
		} else if !strings.Contains(apiError(t, err).Message, "may not drain agent "+shared.id) {
			t.Errorf("the 403 does not say what was refused: %s", apiError(t, err).Message)
		}
		if resp := shared.beat(protocol.HeartbeatRequest{}); resp.Drain {
			t.Error("the shared agent was drained by a refused request")
		}
		if resp := own.beat(protocol.HeartbeatRequest{}); resp.Drain {
			t.Error("acme's agent was drained by a refused request")
		}
		// The tenant drains its own agent.
		if a, err := acme.DrainAgent(ctx, own.id); err != nil || !a.Draining || a.DrainRequestedBy != "token:acme-ops" {
			t.Fatalf("drain of acme's own agent = %+v, %v", a, err)
		}
		if resp := own.beat(protocol.HeartbeatRequest{State: protocol.AgentDraining}); !resp.Drain {
			t.Error("acme's drained agent was not told to drain")
		}
		if _, err := beta.UndrainAgent(ctx, own.id); !client.IsForbidden(err) {
			t.Errorf("undrain of acme's agent through beta = %v, want 403", err)
		}
		if resp := own.beat(protocol.HeartbeatRequest{State: protocol.AgentDraining}); !resp.Drain {
			t.Error("a refused undrain lifted the drain")
		}
		for _, actor := range []string{"token:beta-ops", "token:reader", "token:writer"} {
			if ev, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{Actor: actor}); err != nil || len(ev.Items) != 0 {
				t.Errorf("audit events of %s = %+v, %v; want none", actor, ev, err)
			}
		}
	})
}
