package agents

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/guardrails"
)

// TestViolatingPoliciesGauge: garo_policies_violating_constraints counts the policies of
// a group that break its constraints once they are tightened, and drops when such a
// policy goes.
func TestViolatingPoliciesGauge(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		svc := New(st, Config{}, nil, nil, testkit.Discard(), nil)
		for _, repo := range []string{"web", "api"} {
			p := &store.Policy{ID: "p-" + repo, Owner: "acme", Repo: repo, OwnerKey: "acme", RepoKey: "acme/" + repo, Name: "linux",
				Labels: store.StringList{"linux"}, MaxRunners: 3, AgentGroup: "default", Enabled: true, Provider: "docker",
				RunnerSpec: store.JSONText(`{"image":"docker.io/library/ubuntu:24.04"}`)}
			if repo == "api" {
				p.RunnerSpec = store.JSONText(`{"image":"ghcr.io/acme/runner:1"}`)
			}
			if err := st.CreatePolicy(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		gauge := func() float64 { return testutil.ToFloat64(svc.violating.WithLabelValues("default")) }
		svc.GroupChanged(ctx, "default")
		if v := gauge(); v != 0 {
			t.Fatalf("gauge with the default constraints = %v, want 0", v)
		}
		g, err := st.GetAgentGroup(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		g.Constraints = guardrails.Constraints{AllowedImages: []string{"ghcr.io/acme/"}}
		if err := st.UpdateAgentGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		// Another replica (or this one after a restart) counts on its first look.
		fresh := New(st, Config{}, nil, nil, testkit.Discard(), nil)
		fresh.countOnce(ctx, "default")
		if v := testutil.ToFloat64(fresh.violating.WithLabelValues("default")); v != 1 {
			t.Fatalf("gauge of a fresh service = %v, want 1", v)
		}
		svc.GroupChanged(ctx, "default")
		if v := gauge(); v != 1 {
			t.Fatalf("gauge after tightening = %v, want 1 (acme/web)", v)
		}
		p, err := st.GetPolicy(ctx, "acme/web", "linux", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePolicy(ctx, p.ID, p.Version); err != nil {
			t.Fatal(err)
		}
		svc.PolicyChanged(ctx, "acme/web", "default")
		if v := gauge(); v != 0 {
			t.Fatalf("gauge after the violating policy went = %v, want 0", v)
		}
	})
}
