package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/shared/protocol"
)

// The tests of this file are the guardrails of agent groups (issue 11, finding 3, and
// docs/security.md#guardrails).

// TestPrefixedPolicyWriterHitsGuardrails is finding 3: a policies:write token confined
// to acme/ pointed a policy at a shared group and set network_mode host (over the
// agent's own bridge), LD_PRELOAD and a proxy in the runner's environment, another
// owner's named volume (a cache to poison) and min_idle 1000. Each is now a 400 naming
// the field and the rule, on create, replace and patch, and nothing is written. The
// first four need no constraints at all (the defaults of every group); the last is the
// operator's ceiling.
func TestPrefixedPolicyWriterHitsGuardrails(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newEnv(t, b)
		ctx := t.Context()
		acme := e.client(e.token("acme-portal", []string{portalapi.ScopePoliciesRead, portalapi.ScopePoliciesWrite}, "acme/"))
		for _, tc := range []struct {
			name, field, rule string
			mod               func(*portalapi.PolicyRequest)
		}{
			{"host network", "runner.docker.network_mode", "lets policies choose no network mode", func(r *portalapi.PolicyRequest) {
				r.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "host"}
			}},
			{"LD_PRELOAD", "runner.env.LD_PRELOAD", "refused by default", func(r *portalapi.PolicyRequest) {
				r.Runner.Env = map[string]string{"LD_PRELOAD": "/tmp/evil.so"}
			}},
			{"proxy", "runner.env.HTTPS_PROXY", "refused by default", func(r *portalapi.PolicyRequest) {
				r.Runner.Env = map[string]string{"HTTPS_PROXY": "http://evil.example:3128"}
			}},
			{"another owner's volume", "runner.docker.volumes[0].source", "named volumes starting with [acme.]", func(r *portalapi.PolicyRequest) {
				r.Runner.Docker = &portalapi.DockerSpec{Volumes: []portalapi.DockerVolume{{Source: "beta.cache", Target: "/cache"}}}
			}},
		} {
			req := policyRequest("attack")
			tc.mod(&req)
			_, err := acme.CreatePolicy(ctx, "acme/web", req)
			wantStatus(t, err, http.StatusBadRequest, tc.field)
			if msg := apiError(t, err).Message; !strings.Contains(msg, tc.rule) || !strings.Contains(msg, `agent group "default"`) {
				t.Errorf("%s: the 400 does not say the rule %q: %s", tc.name, tc.rule, msg)
			}
		}

		// The operator's ceiling on the shared group; the team's token cannot lift it.
		ceiling := 2
		if _, err := e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{
			Constraints: &portalapi.AgentGroupConstraints{Ceilings: portalapi.ConstraintCeilings{MinIdle: &ceiling}},
		}); err != nil {
			t.Fatal(err)
		}
		big := policyRequest("attack")
		big.MinIdle, big.MaxRunners = 1000, 1000
		_, err := acme.CreatePolicy(ctx, "acme/web", big)
		wantStatus(t, err, http.StatusBadRequest, "min_idle")

		// A policy that fits, then a replace and a patch that do not: refused, unchanged.
		ok, err := acme.CreatePolicy(ctx, "acme/web", policyRequest("linux"))
		if err != nil {
			t.Fatal(err)
		}
		host := policyRequest("linux")
		host.Runner.Docker = &portalapi.DockerSpec{NetworkMode: "host"}
		_, err = acme.ReplacePolicy(ctx, "acme/web", "linux", host, "")
		wantStatus(t, err, http.StatusBadRequest, "runner.docker.network_mode")
		_, err = acme.PatchPolicy(ctx, "acme/web", "linux", map[string]any{"min_idle": 1000, "max_runners": 1000}, "")
		wantStatus(t, err, http.StatusBadRequest, "min_idle")
		_, err = acme.PatchPolicy(ctx, "acme/web", "linux", map[string]any{"runner": map[string]any{"env": map[string]string{"ld_preload": "/x.so"}}}, "")
		wantStatus(t, err, http.StatusBadRequest, "runner.env.ld_preload")
		if got, err := e.admin.GetPolicy(ctx, "acme/web", "linux"); err != nil || got.Version != ok.Version || got.MinIdle != 1 {
			t.Fatalf("refused writes changed the policy: %+v, %v", got, err)
		}
		if list, err := e.admin.ListPolicies(ctx, client.ListPoliciesOptions{}); err != nil || len(list.Items) != 1 {
			t.Fatalf("policies = %+v, %v; want only the one that fits", list, err)
		}

		// Only a token without owner prefixes sets constraints, even on a group the
		// team's token covers.
		ops := e.client(e.token("acme-ops", []string{portalapi.ScopeAgentsRead, portalapi.ScopeAgentsWrite}, "acme/"))
		loose := &portalapi.AgentGroupConstraints{AllowedNetworkModes: []string{"host"}}
		if _, err := ops.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "acme-ci", Constraints: loose}); !client.IsForbidden(err) {
			t.Errorf("a prefixed token created a group with constraints: %v, want 403", err)
		}
		if _, err := ops.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "acme-ci"}); err != nil {
			t.Fatal(err)
		}
		if _, err := ops.UpdateAgentGroup(ctx, "acme-ci", portalapi.AgentGroupPatch{Constraints: loose}); !client.IsForbidden(err) {
			t.Errorf("a prefixed token loosened its group's constraints: %v, want 403", err)
		} else if msg := apiError(t, err).Message; !strings.Contains(msg, "only a token without owner prefixes") {
			t.Errorf("the 403 does not say the rule: %s", msg)
		}
		if g, err := e.admin.GetAgentGroup(ctx, "acme-ci"); err != nil || len(g.Constraints.AllowedNetworkModes) != 0 {
			t.Fatalf("acme-ci = %+v, %v", g, err)
		}
		// Bad constraints are a 400 naming the field.
		_, err = e.admin.UpdateAgentGroup(ctx, "acme-ci", portalapi.AgentGroupPatch{
			Constraints: &portalapi.AgentGroupConstraints{AllowedEnv: []string{"ACTIONS_RUNNER_INPUT_TOKEN"}},
		})
		wantStatus(t, err, http.StatusBadRequest, "constraints.allowed_env[0]")
	})
}

// TestTightenedConstraintsAreReportedAndNotServed: policies written under loose
// constraints stay as they are when an operator tightens them, but are reported (serving
// violates_constraints, naming the field and the rule, also in the list; their queued
// jobs show no_agent) and left out of the agent's config, which carries the new
// constraints; loosening again serves them again.
func TestTightenedConstraintsAreReportedAndNotServed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		a := e.register(e.registrationToken("default", 1), "m")
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		other := policyRequest("other")
		other.Labels = []string{"self-hosted", "other"}
		other.Runner.Image = "ghcr.io/acme/runner:1"
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", other); err != nil {
			t.Fatal(err)
		}
		_, before := a.config("", "")
		if len(before.Policies) != 2 {
			t.Fatalf("config before = %+v", before.Policies)
		}

		// The agent's held config poll is woken by the change, not by its end.
		type polled struct {
			ans answer
			cfg protocol.Config
		}
		held := make(chan polled, 1)
		go func() {
			ans, cfg := a.config(before.Version, "15s")
			held <- polled{ans, cfg}
		}()
		heldPolls(t, e.svc, agents.PollConfig, 1)
		tight := &portalapi.AgentGroupConstraints{AllowedImages: []string{"ghcr.io/acme/"}}
		g, err := e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{Constraints: tight})
		if err != nil || len(g.Constraints.AllowedImages) != 1 {
			t.Fatalf("tighten = %+v, %v", g, err)
		}
		if p := <-held; p.ans.status != http.StatusOK || len(p.cfg.Policies) != 1 || p.cfg.Policies[0].Name != "other" {
			t.Fatalf("held config poll after tightening = %d %+v, want 200 with only the policy that fits", p.ans.status, p.cfg.Policies)
		}
		got, err := e.admin.GetPolicy(ctx, "acme/web", "linux")
		if err != nil {
			t.Fatal(err)
		}
		if s := got.Serving; s == nil || s.State != portalapi.PolicyViolatesConstraints || len(s.Violations) != 1 ||
			s.Violations[0].Field != "runner.image" || !strings.Contains(s.Violations[0].Message, "constraints.allowed_images") {
			t.Fatalf("tightened policy: serving %+v, want violates_constraints on runner.image", got.Serving)
		}
		list, err := e.admin.ListPolicies(ctx, client.ListPoliciesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			want := portalapi.PolicyServed
			if p.Name == "linux" {
				want = portalapi.PolicyViolatesConstraints
			}
			if p.Serving == nil || p.Serving.State != want {
				t.Errorf("listed %s: serving %+v, want %s", p.Name, p.Serving, want)
			}
		}
		_, cfg := a.config("", "")
		if len(cfg.Policies) != 1 || cfg.Policies[0].Name != "other" {
			t.Fatalf("config after tightening = %+v, want only the policy that fits", cfg.Policies)
		}
		if len(cfg.Constraints.AllowedImages) != 1 || cfg.Constraints.AllowedImages[0] != "ghcr.io/acme/" {
			t.Fatalf("config constraints = %+v", cfg.Constraints)
		}

		// A queued job of the policy is shown as served by no agent, and why.
		if _, _, err := jobs.NewService(e.st, testkit.Discard(), nil).Apply(ctx, jobs.Event{Action: "queued", JobID: 7001, RunID: 7001,
			Owner: "acme", Repo: "web", Labels: []string{"self-hosted", "linux", "x64"}, Source: jobs.SourceWebhook}); err != nil {
			t.Fatal(err)
		}
		job, err := e.admin.GetJob(ctx, "acme/web", 7001)
		if err != nil {
			t.Fatal(err)
		}
		if job.AgentState != portalapi.JobNoAgent || !strings.Contains(job.AgentReason, "breaks the constraints") {
			t.Fatalf("job of the violating policy: agent_state %q reason %q", job.AgentState, job.AgentReason)
		}

		// The operator loosens again: served again.
		if _, err := e.admin.UpdateAgentGroup(ctx, "default", portalapi.AgentGroupPatch{Constraints: &portalapi.AgentGroupConstraints{}}); err != nil {
			t.Fatal(err)
		}
		if _, cfg := a.config("", ""); len(cfg.Policies) != 2 {
			t.Fatalf("config after loosening = %+v", cfg.Policies)
		}
		a.heartbeat(protocol.HeartbeatRequest{})
		if got, err := e.admin.GetPolicy(ctx, "acme/web", "linux"); err != nil || got.Serving.State != portalapi.PolicyServed {
			t.Fatalf("loosened policy: %+v, %v", got.Serving, err)
		}
	})
}
