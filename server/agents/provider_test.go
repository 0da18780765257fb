package agents_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// registerAs registers an agent of group that reports provider kind.
func registerAs(t testing.TB, svc *agents.Service, group, name, kind string) *agent {
	t.Helper()
	tok, err := svc.CreateRegistrationToken(t.Context(), operator, admin, group, portalapi.RegistrationTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Register(t.Context(), protocol.RegisterRequest{Token: tok.Token, Name: name, Version: "test", Provider: kind})
	if err != nil {
		t.Fatal(err)
	}
	return &agent{svc: svc, credential: r.Credential, id: r.AgentID}
}

// addProviderPolicy stores an enabled policy of repo for group on provider, whose runners
// carry the label name (so that jobs asking for it match this policy only).
func addProviderPolicy(t testing.TB, st *store.Store, repo, name, group, provider string) *store.Policy {
	t.Helper()
	p := addPolicy(t, st, repo, name+"-tmp", group)
	p.Name, p.Provider, p.Labels = name, provider, store.StringList{"self-hosted", name}
	if provider == portalapi.ProviderKubernetes {
		p.RunnerSpec = store.JSONText(`{"image":"runner:1","kubernetes":{"node_selector":{"pool":"ci"}}}`)
	}
	if err := st.UpdatePolicy(t.Context(), p, p.Version); err != nil {
		t.Fatal(err)
	}
	return p
}

func policyNames(cfg *protocol.Config) string {
	var names []string
	for _, p := range cfg.Policies {
		names = append(names, p.Repository+"/"+p.Name+"@"+p.Provider)
	}
	return strings.Join(names, " ")
}

func ownership(t *testing.T, st *store.Store, group string) string {
	t.Helper()
	rows, err := st.GroupOwnership(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range rows {
		out = append(out, o.RepoKey+"@"+o.Provider+"="+o.AgentID)
	}
	return strings.Join(out, " ")
}

// TestPoliciesMeetOnlyAgentsOfTheirProvider: in one group, a Docker agent and a
// Kubernetes agent each get only the policies of their provider, in config, jobs and
// runner credentials; a repository with a policy of each has one owner of each provider.
// An agent that comes back with another provider gives up what it owned for the old one,
// and an agent registering without a provider is a Docker agent.
func TestPoliciesMeetOnlyAgentsOfTheirProvider(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		m := &minter{}
		svc := newService(st, newClock(), nil, m)
		addProviderPolicy(t, st, "acme/web", "linux", "default", "docker")
		addProviderPolicy(t, st, "acme/web", "k8s", "default", "kubernetes")
		addProviderPolicy(t, st, "acme/api", "linux", "default", "docker")
		d := registerAs(t, svc, "default", "docker-host", "docker")
		k := registerAs(t, svc, "default", "k8s-host", "kubernetes")

		if got := policyNames(d.config(t)); got != "acme/api/linux@docker acme/web/linux@docker" {
			t.Errorf("docker agent's policies = %q", got)
		}
		kcfg := k.config(t)
		if got := policyNames(kcfg); got != "acme/web/k8s@kubernetes" || strings.Join(kcfg.Repositories, " ") != "acme/web" {
			t.Errorf("kubernetes agent's config = %q %v", got, kcfg.Repositories)
		}
		want := "acme/api@docker=" + d.id + " acme/web@docker=" + d.id + " acme/web@kubernetes=" + k.id
		if got := ownership(t, st, "default"); got != want {
			t.Errorf("ownership = %s\nwant %s", got, want)
		}

		// Jobs go to the agent of their policy's provider.
		log := jobs.NewService(st, testkit.Discard(), nil)
		for id, label := range map[int64]string{1: "linux", 2: "k8s"} {
			if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: "acme", Repo: "web",
				Labels: []string{"self-hosted", label}, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		jobsOf := func(a *agent) string {
			snap, _, err := svc.WaitJobs(ctx, a.auth(t), "", 0)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, j := range snap.Jobs {
				out = append(out, j.Policy)
			}
			return strings.Join(out, " ")
		}
		if got := jobsOf(d); got != "linux" {
			t.Errorf("docker agent's jobs = %q, want the linux job only", got)
		}
		if got := jobsOf(k); got != "k8s" {
			t.Errorf("kubernetes agent's jobs = %q, want the k8s job only", got)
		}

		// Credentials only for a policy of the agent's provider.
		creds := func(a *agent, policy string) error {
			_, err := svc.Credentials(ctx, a.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: policy, RunnerName: "r-" + policy + "-" + a.id[:8]})
			return err
		}
		if err := creds(d, "k8s"); !errors.Is(err, agents.ErrNotOwner) || !strings.Contains(err.Error(), "runs on provider kubernetes") {
			t.Errorf("docker agent minting for the kubernetes policy = %v, want ErrNotOwner naming the provider", err)
		}
		if err := creds(k, "linux"); !errors.Is(err, agents.ErrNotOwner) {
			t.Errorf("kubernetes agent minting for the docker policy = %v, want ErrNotOwner", err)
		}
		if m.calls != 0 {
			t.Fatalf("%d credentials minted for refused requests", m.calls)
		}
		if err := creds(d, "linux"); err != nil {
			t.Errorf("docker agent minting for its policy: %v", err)
		}
		if err := creds(k, "k8s"); err != nil {
			t.Errorf("kubernetes agent minting for its policy: %v", err)
		}
		if m.calls != 2 {
			t.Errorf("%d credentials minted, want 2", m.calls)
		}

		// The Kubernetes agent restarts as a Docker agent (same state file): it gives up
		// the kubernetes policy's repository at once and, the Docker agent keeping what it
		// has, owns nothing; nothing serves the kubernetes policy.
		k.heartbeat(t, protocol.HeartbeatRequest{Provider: "docker"})
		if got := policyNames(k.config(t)); got != "" {
			t.Errorf("after switching to docker, the former kubernetes agent's policies = %q", got)
		}
		if got := ownership(t, st, "default"); got != "acme/api@docker="+d.id+" acme/web@docker="+d.id {
			t.Errorf("ownership after the switch = %s", got)
		}
		row, err := st.GetAgent(ctx, k.id)
		if err != nil || row.Provider != "docker" || row.Serves != "docker" {
			t.Fatalf("switched agent = %+v, %v", row, err)
		}
		// A heartbeat without a provider (an older agent) changes nothing; back to
		// kubernetes, it serves the kubernetes policy again.
		k.heartbeat(t, protocol.HeartbeatRequest{})
		if row, _ := st.GetAgent(ctx, k.id); row.Provider != "docker" {
			t.Fatalf("an empty provider changed the agent's to %q", row.Provider)
		}
		k.heartbeat(t, protocol.HeartbeatRequest{Provider: "kubernetes"})
		if got := policyNames(k.config(t)); got != "acme/web/k8s@kubernetes" {
			t.Errorf("back on kubernetes: policies = %q", got)
		}
		if _, err := svc.Heartbeat(ctx, k.auth(t), protocol.HeartbeatRequest{Provider: "Kube Rnetes"}); err == nil {
			t.Error("a malformed provider in a heartbeat was accepted")
		}

		// An agent that registers without a provider is a Docker agent.
		old := registerAs(t, svc, "default", "old-host", "")
		row, err = st.GetAgent(ctx, old.id)
		if err != nil || row.Provider != "docker" || row.Serves != "docker" {
			t.Fatalf("agent registered without a provider = %+v, %v", row, err)
		}
	})
}

// TestServingStatus: the portal sees which policies no live agent of their group can
// serve, and their queued jobs say why, instead of the wrong provider serving them.
func TestServingStatus(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		c := newClock()
		svc := newService(st, c, nil, nil)
		addProviderPolicy(t, st, "acme/web", "linux", "default", "docker")
		addProviderPolicy(t, st, "acme/web", "k8s", "default", "kubernetes")
		off := addProviderPolicy(t, st, "acme/web", "off", "default", "docker")
		off.Enabled = false
		if err := st.UpdatePolicy(ctx, off, off.Version); err != nil {
			t.Fatal(err)
		}
		log := jobs.NewService(st, testkit.Discard(), nil)
		for id, label := range map[int64]string{1: "linux", 2: "k8s"} {
			if _, _, err := log.Apply(ctx, jobs.Event{Action: "queued", JobID: id, RunID: id, Owner: "acme", Repo: "web",
				Labels: []string{"self-hosted", label}, Source: jobs.SourceWebhook}); err != nil {
				t.Fatal(err)
			}
		}
		status := func() map[string]portalapi.PolicyServing {
			items := []portalapi.Policy{
				{Repository: "acme/web", Name: "linux", AgentGroup: "default", Enabled: true, Provider: "docker"},
				{Repository: "acme/web", Name: "k8s", AgentGroup: "default", Enabled: true, Provider: "kubernetes"},
				{Repository: "acme/web", Name: "off", AgentGroup: "default", Enabled: false, Provider: "docker"},
			}
			if err := svc.ExplainPolicies(ctx, items); err != nil {
				t.Fatal(err)
			}
			out := map[string]portalapi.PolicyServing{}
			for _, p := range items {
				out[p.Name] = *p.Serving
			}
			return out
		}
		jobStates := func() map[int64]portalapi.Job {
			items := []portalapi.Job{
				{ID: 1, Repository: "acme/web", Policy: "linux", State: portalapi.JobQueued, AgentState: portalapi.JobRunnerRequested, AgentID: "x"},
				{ID: 2, Repository: "acme/web", Policy: "k8s", State: portalapi.JobQueued},
				{ID: 3, Repository: "acme/web", Policy: "k8s", State: portalapi.JobInProgress},
			}
			if err := svc.ExplainJobs(ctx, items); err != nil {
				t.Fatal(err)
			}
			out := map[int64]portalapi.Job{}
			for _, j := range items {
				out[j.ID] = j
			}
			return out
		}

		// No agent at all.
		s := status()
		if s["linux"].State != portalapi.PolicyNoAgent || s["linux"].Reason != "no live agent of group default runs provider docker" {
			t.Errorf("docker policy without agents = %+v", s["linux"])
		}
		if s["off"].State != portalapi.PolicyDisabled {
			t.Errorf("disabled policy = %+v", s["off"])
		}

		// A Docker agent: the docker policy is served (by it), the kubernetes one is not,
		// and its queued job says so; an in-progress job is left alone.
		d := registerAs(t, svc, "default", "docker-host", "memory")
		d.config(t)
		s = status()
		if s["linux"].State != portalapi.PolicyServed || s["linux"].AgentID != d.id {
			t.Errorf("docker policy with a memory agent = %+v", s["linux"])
		}
		wantReason := "no live agent of group default runs provider kubernetes (its live agents run memory)"
		if s["k8s"].State != portalapi.PolicyNoAgent || s["k8s"].Reason != wantReason {
			t.Errorf("kubernetes policy with a Docker agent = %+v", s["k8s"])
		}
		js := jobStates()
		if j := js[2]; j.AgentState != portalapi.JobNoAgent || j.AgentReason != wantReason {
			t.Errorf("queued job of the kubernetes policy = %+v", j)
		}
		if j := js[1]; j.AgentState != portalapi.JobRunnerRequested || j.AgentID != "x" || j.AgentReason != "" {
			t.Errorf("queued job of the docker policy = %+v", j)
		}
		if j := js[3]; j.AgentState != "" {
			t.Errorf("in-progress job = %+v", j)
		}

		// A Kubernetes agent comes: both served. It drains: the kubernetes policy is not.
		k := registerAs(t, svc, "default", "k8s-host", "kubernetes")
		k.config(t)
		if s := status(); s["k8s"].State != portalapi.PolicyServed || s["k8s"].AgentID != k.id {
			t.Errorf("kubernetes policy with a Kubernetes agent = %+v", s["k8s"])
		}
		if j := jobStates()[2]; j.AgentState != "" {
			t.Errorf("queued job of the served kubernetes policy = %+v", j)
		}
		k.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentDraining})
		if s := status(); s["k8s"].State != portalapi.PolicyNoAgent || !strings.Contains(s["k8s"].Reason, "draining") {
			t.Errorf("kubernetes policy whose agent drains = %+v", s["k8s"])
		}

		// Everyone goes silent past the offline interval: nothing is served.
		c.Advance(2 * offline)
		s = status()
		for _, name := range []string{"linux", "k8s"} {
			if s[name].State != portalapi.PolicyNoAgent || !slices.Contains([]string{
				"no live agent of group default runs provider docker", "no live agent of group default runs provider kubernetes",
			}, s[name].Reason) {
				t.Errorf("%s after every agent went offline = %+v", name, s[name])
			}
		}
	})
}
