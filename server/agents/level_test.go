package agents_test

import (
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestOrgRunnerRemovedThroughOrgRoute: a runner of an organisation-level policy is
// removed through the organisation route, one of a repository-level policy through the
// repository route.
func TestOrgRunnerRemovedThroughOrgRoute(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		svc := newService(st, clk, nil, gh)
		x := register(t, svc, "default", "x")
		p := addPolicy(t, st, "acme/web", "linux", "default")
		p.RegistrationLevel, p.RunnerGroup = store.LevelOrganization, "Default"
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		addPolicy(t, st, "acme/web", "repo", "default")
		x.config(t)
		for _, tc := range []struct {
			policy  string
			wantOrg int
		}{{"linux", 1}, {"repo", 1}} {
			name := "run-" + tc.policy
			c, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: tc.policy, RunnerName: name})
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: name, RunnerID: c.RunnerID}); err != nil {
				t.Fatalf("remove %s: %v", name, err)
			}
			gh.mu.Lock()
			got := gh.orgCalls
			gh.mu.Unlock()
			if got != tc.wantOrg {
				t.Errorf("after removing %s: %d calls through the organisation route, want %d", name, got, tc.wantOrg)
			}
		}

		// A runner of an organisation-level policy deleted since is still removed from
		// the organisation: its record says where it registered.
		c, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "run-orphan"})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := st.GetMinted(ctx, "run-orphan"); err != nil || m.RegistrationLevel != store.LevelOrganization {
			t.Fatalf("minted record %+v, %v; want registration level organization", m, err)
		}
		p, err = st.GetPolicy(ctx, "acme/web", "linux", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePolicy(ctx, p.ID, p.Version); err != nil {
			t.Fatal(err)
		}
		if err := svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "run-orphan", RunnerID: c.RunnerID}); err != nil {
			t.Fatalf("remove run-orphan: %v", err)
		}
		gh.mu.Lock()
		got := gh.orgCalls
		gh.mu.Unlock()
		if got != 2 {
			t.Errorf("after removing the runner of a deleted organisation-level policy: %d organisation-route calls, want 2", got)
		}
	})
}
