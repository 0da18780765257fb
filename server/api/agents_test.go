package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestRegistrationTokensAPI: create (shown once, stored hashed), list, get and delete the
// registration tokens of a group, with scopes, validation and the audit trail.
func TestRegistrationTokensAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()

		created, err := e.admin.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Description: "rack 4"})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^garor_[A-Za-z0-9_-]{43}$`).MatchString(created.Token) || created.UsesLeft != 1 ||
			created.Group != "default" || !strings.HasPrefix(created.CreatedBy, "token:") {
			t.Fatalf("created = %+v", created.RegistrationToken)
		}
		if d := created.ExpiresAt.Sub(created.CreatedAt); d != time.Hour {
			t.Fatalf("default lifetime = %s, want 1h", d)
		}
		uses := 3
		e.clock.Advance(time.Second)
		second, err := e.admin.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Uses: &uses, ExpiresIn: portalapi.DurationOf(720 * time.Hour)})
		if err != nil || second.UsesLeft != 3 {
			t.Fatalf("second = %+v, %v", second, err)
		}
		list, err := e.admin.ListRegistrationTokens(ctx, "default")
		if err != nil || len(list.Items) != 2 || list.Items[0].ID != created.ID {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if got, err := e.admin.GetRegistrationToken(ctx, "default", created.ID); err != nil || got.Description != "rack 4" {
			t.Fatalf("get = %+v, %v", got, err)
		}
		stored, err := e.st.ListRegistrationTokens(ctx, "default")
		if err != nil || strings.Contains(stored[0].Hash, created.Token) || len(stored[0].Hash) != 64 {
			t.Fatalf("stored = %+v, %v", stored, err)
		}

		// Bad requests, unknown groups, scopes.
		for _, req := range []portalapi.RegistrationTokenRequest{{Uses: new(int)}, {ExpiresIn: portalapi.DurationOf(721 * time.Hour)}} {
			if _, err := e.admin.CreateRegistrationToken(ctx, "default", req); client.StatusCode(err) != http.StatusBadRequest {
				t.Errorf("create %+v = %v, want 400", req, err)
			}
		}
		resp, body := e.do(http.MethodPost, "/api/v1/agent-groups/default/registration-tokens", adminSecret, "application/json", `{"uses":1,"colour":"red"}`)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("unknown field = %d %s", resp.StatusCode, body)
		}
		if _, err := e.admin.CreateRegistrationToken(ctx, "nope", portalapi.RegistrationTokenRequest{}); !client.IsNotFound(err) {
			t.Errorf("unknown group = %v", err)
		}
		if _, err := e.admin.ListRegistrationTokens(ctx, "nope"); !client.IsNotFound(err) {
			t.Errorf("list of an unknown group = %v", err)
		}
		if _, err := e.admin.GetRegistrationToken(ctx, "gpu", created.ID); !client.IsNotFound(err) {
			t.Errorf("token of another group = %v", err)
		}
		reader := e.client(e.token("reader", []string{portalapi.ScopeAgentsRead}))
		if _, err := reader.ListRegistrationTokens(ctx, "default"); err != nil {
			t.Errorf("agents:read list = %v", err)
		}
		if _, err := reader.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{}); !client.IsForbidden(err) {
			t.Errorf("agents:read create = %v, want 403", err)
		}
		policies := e.client(e.token("policies", []string{portalapi.ScopePoliciesWrite}))
		if _, err := policies.ListRegistrationTokens(ctx, "default"); !client.IsForbidden(err) {
			t.Errorf("policies:write list = %v, want 403", err)
		}

		if err := e.admin.DeleteRegistrationToken(ctx, "default", created.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.admin.DeleteRegistrationToken(ctx, "default", created.ID); !client.IsNotFound(err) {
			t.Fatalf("second delete = %v", err)
		}
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{ResourceType: "agent_registration_token"})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events.Items {
			actions = append(actions, ev.Action)
			if strings.Contains(string(ev.After)+string(ev.Before), created.Token) {
				t.Errorf("audit event %s holds the secret", ev.Action)
			}
		}
		if strings.Join(actions, " ") != "agent_registration_token.delete agent_registration_token.create agent_registration_token.create" {
			t.Fatalf("audit actions = %v", actions)
		}
		if strings.Contains(e.logs.String(), created.Token) || strings.Contains(e.logs.String(), second.Token) {
			t.Fatal("a registration token was logged")
		}
	})
}

// TestAgentsAPI: the portal lists agents with a status computed from last_seen_at, their
// repositories and runner counts; revoking one makes its next call fail with 401, moves
// its repositories, is audited, and lets its group be deleted.
func TestAgentsAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		if _, err := e.admin.CreateAgentGroup(ctx, portalapi.AgentGroupRequest{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		for _, repo := range []string{"acme/web", "beta/www"} {
			req := policyRequest("linux")
			req.AgentGroup = "gpu"
			if _, err := e.admin.CreatePolicy(ctx, repo, req); err != nil {
				t.Fatal(err)
			}
		}
		tok := e.registrationToken("gpu", 2)
		x := e.register(tok, "host-x")
		x.heartbeat(protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{
			{Name: "r1", Repository: "acme/web", Policy: "linux", State: protocol.RunnerBusy},
			{Name: "r2", Repository: "acme/web", Policy: "linux", State: protocol.RunnerIdle},
			{Name: "r3", Repository: "beta/www", Policy: "linux", State: protocol.RunnerIdle},
		}})

		got, err := e.admin.GetAgent(ctx, x.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != portalapi.AgentStatusActive || got.Group != "gpu" || got.Name != "host-x" || got.Provider != "memory" ||
			strings.Join(got.Repositories, " ") != "acme/web beta/www" || got.Runners["idle"] != 2 || got.Runners["busy"] != 1 {
			t.Fatalf("agent = %+v", got)
		}
		// gpu serves every owner: a token confined to acme/ does not cover it, so it sees
		// neither the agent nor its runners (TestPrefixedTokenSeesOnlyItsGroups has more).
		acme := e.client(e.token("acme", []string{portalapi.ScopeAgentsRead}, "acme/"))
		if a, err := acme.GetAgent(ctx, x.id); !client.IsForbidden(err) {
			t.Fatalf("agent of a shared group through an acme/ token = %+v, %v, want 403", a, err)
		}

		// Liveness follows the clock: stale after three heartbeats, offline after the interval.
		e.clock.Advance(time.Second)
		y := e.register(tok, "host-y")
		e.clock.Advance(3 * testHeartbeat)
		y.heartbeat(protocol.HeartbeatRequest{})
		status := func(q client.AgentQuery) string {
			t.Helper()
			l, err := e.admin.ListAgents(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, a := range l.Items {
				out = append(out, a.Name+"="+a.Status)
			}
			return strings.Join(out, " ")
		}
		if got := status(client.AgentQuery{}); got != "host-x=stale host-y=active" {
			t.Fatalf("statuses = %s", got)
		}
		e.clock.Advance(testOffline)
		y.heartbeat(protocol.HeartbeatRequest{})
		if got := status(client.AgentQuery{Status: "offline"}); got != "host-x=offline" {
			t.Fatalf("offline agents = %s", got)
		}
		if got := status(client.AgentQuery{Group: "default"}); got != "" {
			t.Fatalf("agents of default = %s", got)
		}
		if _, err := e.admin.ListAgents(ctx, client.AgentQuery{Status: "sleepy"}); client.StatusCode(err) != http.StatusBadRequest {
			t.Fatalf("bad status filter = %v", err)
		}
		if yv, _ := e.admin.GetAgent(ctx, y.id); len(yv.Repositories) != 2 {
			t.Fatalf("y did not take x's repositories: %+v", yv)
		}

		// Revoke y: 401 on its next call, the group cannot be deleted while x is not revoked.
		if err := e.admin.RevokeAgent(ctx, y.id); err != nil {
			t.Fatal(err)
		}
		if err := e.admin.RevokeAgent(ctx, y.id); err != nil {
			t.Fatalf("revoking twice = %v", err)
		}
		ans := y.do(http.MethodPost, "/heartbeat", protocol.HeartbeatRequest{})
		if ans.status != http.StatusUnauthorized || ans.errorCode() != portalapi.CodeUnauthorized || !strings.Contains(string(ans.body), "revoked") {
			t.Fatalf("heartbeat of a revoked agent = %d %s", ans.status, ans.body)
		}
		if yv, _ := e.admin.GetAgent(ctx, y.id); yv.Status != portalapi.AgentStatusRevoked || yv.RevokedAt == nil || len(yv.Repositories) != 0 {
			t.Fatalf("revoked agent = %+v", yv)
		}
		if err := e.admin.RevokeAgent(ctx, "no-such-agent"); !client.IsNotFound(err) {
			t.Fatalf("revoke unknown = %v", err)
		}
		for _, repo := range []string{"acme/web", "beta/www"} {
			if err := e.admin.DeletePolicy(ctx, repo, "linux", ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.admin.DeleteAgentGroup(ctx, "gpu"); !client.IsConflict(err) {
			t.Fatalf("delete a group with a live agent = %v, want 409", err)
		}
		if err := e.admin.RevokeAgent(ctx, x.id); err != nil {
			t.Fatal(err)
		}
		if err := e.admin.DeleteAgentGroup(ctx, "gpu"); err != nil {
			t.Fatalf("delete a group whose agents are all revoked = %v", err)
		}
		if _, err := e.admin.GetAgent(ctx, x.id); !client.IsNotFound(err) {
			t.Fatalf("agent of a deleted group = %v", err)
		}
		events, err := e.admin.ListAuditEvents(ctx, client.AuditQuery{ResourceType: "agent"})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events.Items {
			actions = append(actions, ev.Action)
		}
		if strings.Join(actions, " ") != "agent.revoke agent.revoke agent.register agent.register" {
			t.Fatalf("audit actions = %v", actions)
		}
	})
}

// TestJobsShowAgentState: a job waiting in an agent's queue shows its agent state and
// place in the portal's job answers, until a runner takes it.
func TestJobsShowAgentState(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		a := e.register(e.registrationToken("default", 1), "h")
		a.config("", "")
		log := jobs.NewService(e.st, testkit.Discard(), nil)
		for id := int64(1); id <= 3; id++ {
			if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: "acme", Repo: "web", Labels: []string{"self-hosted", "linux"}, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		retry := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		a.heartbeat(protocol.HeartbeatRequest{Jobs: []protocol.JobStatus{
			{JobID: 1, State: protocol.JobRunnerRequested},
			{JobID: 2, State: protocol.JobWaitingForCapacity, Position: 1},
			{JobID: 3, State: protocol.JobBackingOff, Reason: "backing off: a runner of the policy failed before taking a job", RetryAt: &retry},
		}})
		resp, body := e.do(http.MethodGet, "/api/v1/repos/acme/web/jobs", adminSecret, "", "")
		var list portalapi.JobList
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("list jobs = %d %s", resp.StatusCode, body)
		}
		byID := map[int64]portalapi.Job{}
		for _, j := range list.Items {
			byID[j.ID] = j
		}
		if j := byID[2]; j.AgentState != portalapi.JobWaitingForCapacity || j.QueuePosition != 1 || j.AgentID != a.id || j.State != portalapi.JobQueued {
			t.Fatalf("job 2 = %+v", j)
		}
		if j := byID[1]; j.AgentState != portalapi.JobRunnerRequested || j.QueuePosition != 0 {
			t.Fatalf("job 1 = %+v", j)
		}
		// Backing off: why, and when the agent tries again (the answer matches the spec).
		if j := byID[3]; j.AgentState != portalapi.JobBackingOff || !strings.Contains(j.AgentReason, "failed before taking a job") ||
			j.AgentRetryAt == nil || !j.AgentRetryAt.Equal(retry) {
			t.Fatalf("job 3 = %+v", j)
		}
		if !strings.Contains(body, `"agent_retry_at":"2030-01-02T03:04:05Z"`) {
			t.Errorf("the jobs answer lacks agent_retry_at: %s", body)
		}
		if _, _, err := log.Apply(ctx, jobs.Event{Action: "in_progress", JobID: 1, RunID: 1, Owner: "acme", Repo: "web", RunnerName: "r", Source: jobs.SourceWebhook}); err != nil {
			t.Fatal(err)
		}
		resp, body = e.do(http.MethodGet, "/api/v1/repos/acme/web/jobs/1", adminSecret, "", "")
		var j portalapi.Job
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &j) != nil || j.AgentState != "" || j.State != portalapi.JobInProgress {
			t.Fatalf("job 1 in progress = %d %s", resp.StatusCode, body)
		}
	})
}
