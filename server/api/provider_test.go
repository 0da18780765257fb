package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestKubernetesPolicyWithoutKubernetesAgent: a kubernetes policy is accepted, but a group
// of Docker agents (here a memory agent, which stands in for docker) does not serve it:
// the agent's config, jobs and runner credentials leave it out,
// and the portal shows it, on the policy (serving no_agent) and on its queued job
// (agent_state no_agent), with the reason, in answers that match openapi.yaml.
func TestKubernetesPolicyWithoutKubernetesAgent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		e := newAgentEnv(t, b, agentOptions{})
		ctx := t.Context()
		a := e.register(e.registrationToken("default", 1), "m") // memory: stands in for docker
		kreq := policyRequest("k8s")
		kreq.Labels = []string{"self-hosted", "k8s"}
		kreq.Provider = portalapi.ProviderKubernetes
		kreq.Runner.Docker = nil
		kreq.Runner.Kubernetes = &portalapi.KubernetesSpec{NodeSelector: map[string]string{"pool": "ci"}}
		created, err := e.admin.CreatePolicy(ctx, "acme/web", kreq)
		if err != nil {
			t.Fatal(err)
		}
		reason := "no live agent of group default runs provider kubernetes (its live agents run memory)"
		if s := created.Serving; s == nil || s.State != portalapi.PolicyNoAgent || s.Reason != reason {
			t.Errorf("created kubernetes policy: serving %+v, want no_agent: %s", s, reason)
		}
		if _, err := e.admin.CreatePolicy(ctx, "acme/web", policyRequest("linux")); err != nil {
			t.Fatal(err)
		}
		if _, cfg := a.config("", ""); len(cfg.Policies) != 1 || cfg.Policies[0].Name != "linux" {
			t.Fatalf("memory agent's config = %+v, want the docker policy only", cfg.Policies)
		}
		got, err := e.admin.GetPolicy(ctx, "acme/web", "linux")
		if err != nil || got.Serving == nil || got.Serving.State != portalapi.PolicyServed || got.Serving.AgentID != a.id {
			t.Fatalf("docker policy = %+v, %v; want served by %s", got.Serving, err, a.id)
		}
		list, err := e.admin.ListPolicies(ctx, client.ListPoliciesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, p := range list.Items {
			if p.Serving != nil {
				states[p.Name] = p.Serving.State
			}
		}
		if states["k8s"] != portalapi.PolicyNoAgent || states["linux"] != portalapi.PolicyServed {
			t.Errorf("serving in the policy list = %v", states)
		}

		log := jobs.NewService(e.st, testkit.Discard(), nil)
		for id, label := range map[int64]string{1: "linux", 2: "k8s"} {
			if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: "acme", Repo: "web", Labels: []string{"self-hosted", label}, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		if _, snap := a.jobs("", ""); len(snap.Jobs) != 1 || snap.Jobs[0].ID != 1 {
			t.Errorf("memory agent's jobs = %+v, want job 1 only", snap.Jobs)
		}
		resp, body := e.do(http.MethodGet, "/api/v1/repos/acme/web/jobs/2", adminSecret, "", "")
		var j portalapi.Job
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &j) != nil || j.AgentState != portalapi.JobNoAgent || j.AgentReason != reason {
			t.Errorf("job of the kubernetes policy = %d %s", resp.StatusCode, body)
		}
		resp, body = e.do(http.MethodGet, "/api/v1/jobs", adminSecret, "", "")
		var jl portalapi.JobList
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &jl) != nil {
			t.Fatalf("jobs = %d %s", resp.StatusCode, body)
		}
		for _, j := range jl.Items {
			if want := map[int64]string{1: "", 2: portalapi.JobNoAgent}[j.ID]; j.AgentState != want {
				t.Errorf("job %d in the list: agent_state %q, want %q", j.ID, j.AgentState, want)
			}
		}
		// Runner credentials for the kubernetes policy are refused to a Docker agent.
		ans := a.do(http.MethodPost, "/runners/credentials", protocol.CredentialsRequest{Repository: "acme/web", Policy: "k8s", RunnerName: "r1"})
		if ans.status != http.StatusForbidden || ans.errorCode() != protocol.CodeNotOwner {
			t.Errorf("credentials for the kubernetes policy = %d %s", ans.status, ans.body)
		}
	})
}
