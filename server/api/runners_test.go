package api_test

import (
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestRunnersAPI: the runner listings show what agents reported, with filters, spelled
// as the policies spell their repositories; a token with owner prefixes sees only its
// repositories' runners, on both routes, and is refused another repository (403).
func TestRunnersAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		for _, repo := range []string{"Acme/Web", "beta/www"} {
			if _, err := e.admin.CreatePolicy(ctx, repo, policyRequest("linux")); err != nil {
				t.Fatal(err)
			}
		}
		x := e.register(e.registrationToken("default", 1), "host-x")
		x.heartbeat(protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{
			{Name: "r1", Repository: "Acme/Web", Policy: "linux", State: protocol.RunnerBusy, JobID: 7, RunnerID: 70},
			{Name: "r2", Repository: "Acme/Web", Policy: "linux", State: protocol.RunnerIdle},
			{Name: "r3", Repository: "beta/www", Policy: "linux", State: protocol.RunnerIdle},
		}})
		names := func(l *portalapi.RunnerList) string {
			var out []string
			for _, r := range l.Items {
				out = append(out, r.Repository+":"+r.Name+":"+r.State)
			}
			return strings.Join(out, " ")
		}

		all, err := e.admin.ListRunners(ctx, client.RunnerQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(all); got != "Acme/Web:r1:busy Acme/Web:r2:idle beta/www:r3:idle" || all.Truncated {
			t.Fatalf("all runners = %s (truncated %v)", got, all.Truncated)
		}
		r1 := all.Items[0]
		if r1.Agent != x.id || r1.AgentName != "host-x" || r1.AgentGroup != "default" || r1.JobID != 7 || r1.GitHubRunnerID != 70 || r1.Policy != "linux" {
			t.Fatalf("r1 = %+v", r1)
		}
		for q, want := range map[client.RunnerQuery]string{
			{State: "idle"}:                         "Acme/Web:r2:idle beta/www:r3:idle",
			{Repository: "acme/web", State: "busy"}: "Acme/Web:r1:busy",
			{Agent: x.id, AgentGroup: "default"}:    "Acme/Web:r1:busy Acme/Web:r2:idle beta/www:r3:idle",
			{AgentGroup: "gpu"}:                     "",
			{Policy: "other"}:                       "",
		} {
			l, err := e.admin.ListRunners(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(l); got != want {
				t.Errorf("runners %+v = %q, want %q", q, got, want)
			}
		}
		repo, err := e.admin.ListRepoRunners(ctx, "beta/www", client.RunnerQuery{})
		if err != nil || names(repo) != "beta/www:r3:idle" {
			t.Fatalf("runners of beta/www = %v, %v", repo, err)
		}
		if _, err := e.admin.ListRunners(ctx, client.RunnerQuery{State: "running"}); client.StatusCode(err) != 400 {
			t.Fatalf("state=running: %v, want 400", err)
		}

		// A team's token: its repositories' runners only, whichever route it takes.
		acme := e.client(e.token("acme", []string{portalapi.ScopePoliciesRead}, "acme/"))
		if l, err := acme.ListRunners(ctx, client.RunnerQuery{}); err != nil || names(l) != "Acme/Web:r1:busy Acme/Web:r2:idle" {
			t.Fatalf("acme/ token's runners = %v, %v", l, err)
		}
		if _, err := acme.ListRepoRunners(ctx, "beta/www", client.RunnerQuery{}); !client.IsForbidden(err) {
			t.Fatalf("acme/ token on beta/www's runners: %v, want 403", err)
		}
		if _, err := acme.ListRunners(ctx, client.RunnerQuery{Repository: "beta/www"}); !client.IsForbidden(err) {
			t.Fatalf("acme/ token filtering on beta/www: %v, want 403", err)
		}
		// The route needs policies:read.
		agentsOnly := e.client(e.token("ops", []string{portalapi.ScopeAgentsRead}))
		if _, err := agentsOnly.ListRunners(ctx, client.RunnerQuery{}); !client.IsForbidden(err) {
			t.Fatalf("agents:read token on runners: %v, want 403", err)
		}
	})
}
