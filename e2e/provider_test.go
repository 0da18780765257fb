package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// A policy is never served by the wrong provider (issue 9). The repository has a docker
// policy and a kubernetes policy, and its group's only agent runs the memory provider,
// which stands in for docker. A job of each: the docker job runs and completes; the
// kubernetes job gets no runner and no credentials, and the portal shows why, on the job
// (agent_state no_agent) and on the policy (serving no_agent).
func TestKubernetesPolicyIsNotServedByADockerAgent(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.policy(t, "small", 0, 3)
	grace, boot := portalapi.Duration(time.Minute), portalapi.Duration(2*time.Minute)
	if _, err := e.portal.CreatePolicy(ctx, repo, portalapi.PolicyRequest{
		Name: "k8s", Labels: []string{"k8s"}, MaxRunners: 3, IdleGrace: &grace, BootstrapTimeout: &boot,
		Provider: portalapi.ProviderKubernetes, Runner: portalapi.RunnerSpec{Image: "runner:1", Kubernetes: &portalapi.KubernetesSpec{NodeSelector: map[string]string{"pool": "ci"}}},
	}); err != nil {
		t.Fatal(err)
	}
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return e.sim.RunRunner(ctx, r.JITConfig(), 100*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	a := startAgent(t, e, e.agentConfig(e.registrationToken(t)), prov, app.Options{})

	dockerJob, err := e.sim.QueueJob(ctx, repo, []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	k8sJob, err := e.sim.QueueJob(ctx, repo, []string{"self-hosted", "k8s"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the docker job done", func() bool { return e.completed([]int64{dockerJob.ID}) == 1 })
	const reason = "no live agent of group default runs provider kubernetes (its live agents run memory)"
	testkit.Eventually(t, 30*time.Second, "the kubernetes job shown as served by no agent", func() bool {
		for _, j := range e.jobs(t) {
			if j.ID == k8sJob.ID {
				return j.State == portalapi.JobQueued && j.AgentState == portalapi.JobNoAgent && j.AgentReason == reason
			}
		}
		return false
	})
	// By now the agent has ticked many times with its config and jobs snapshot.
	if n := prov.Peak(repo, "k8s"); n != 0 {
		t.Errorf("%d runners of the kubernetes policy ran on the memory (docker) agent", n)
	}
	if n := prov.Created(); n != 1 {
		t.Errorf("%d runners created, want 1 (the docker job's)", n)
	}
	if j, _ := e.sim.Job(k8sJob.ID); j.Status != "queued" {
		t.Errorf("kubernetes job at GitHub: %s, want queued", j.Status)
	}
	p, err := e.portal.GetPolicy(ctx, repo, "k8s")
	if err != nil || p.Serving == nil || p.Serving.State != portalapi.PolicyNoAgent || p.Serving.Reason != reason {
		t.Errorf("kubernetes policy: serving %+v, %v", p.Serving, err)
	}
	if p, err := e.portal.GetPolicy(ctx, repo, "small"); err != nil || p.Serving == nil || p.Serving.State != portalapi.PolicyServed || p.Serving.AgentID == "" {
		t.Errorf("docker policy: serving %+v, %v", p.Serving, err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
}
