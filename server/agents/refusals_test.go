package agents_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// refusingGitHub refuses runners whose name starts with "refused-", as GitHub refuses a
// runner group that may not serve the repository.
type refusingGitHub struct{ *ghRunners }

const groupReason = `runner group "gpu" does not allow repository acme/web`

func (g refusingGitHub) Credentials(ctx context.Context, p *store.Policy, name string) (*runners.Credentials, error) {
	if strings.HasPrefix(name, "refused-") {
		return nil, &githubapp.RefusalError{Reason: groupReason, Kind: githubapp.ErrGroupDenied}
	}
	return g.ghRunners.Credentials(ctx, p, name)
}

// TestRefusalShowsInServingAndJobs: a mint GitHub refuses for good is recorded with the
// policy: its serving state is github_refused with the reason and its queued job shows
// backing_off with it; a runner minted next clears it, and so does a changed policy.
func TestRefusalShowsInServingAndJobs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		svc := newService(st, newClock(), nil, refusingGitHub{newGHRunners()})
		x := register(t, svc, "default", "x")
		p := addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		mint := func(name string) error {
			_, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: name})
			return err
		}
		serving := func() portalapi.PolicyServing {
			cur, err := st.GetPolicy(ctx, p.RepoKey, p.Name, false)
			if err != nil {
				t.Fatal(err)
			}
			items := []portalapi.Policy{{ID: cur.ID, Version: cur.Version, Repository: "acme/web", Name: "linux", AgentGroup: "default", Enabled: true, Provider: "docker"}}
			if err := svc.ExplainPolicies(ctx, items); err != nil {
				t.Fatal(err)
			}
			return *items[0].Serving
		}
		job := func() portalapi.Job {
			items := []portalapi.Job{{ID: 1, Repository: "acme/web", Policy: "linux", State: portalapi.JobQueued, AgentState: portalapi.JobRunnerRequested, AgentID: "x"}}
			if err := svc.ExplainJobs(ctx, items); err != nil {
				t.Fatal(err)
			}
			return items[0]
		}

		if err := mint("refused-1"); !errors.Is(err, githubapp.ErrGroupDenied) {
			t.Fatalf("refused mint: %v, want ErrGroupDenied", err)
		}
		if s := serving(); s.State != portalapi.PolicyRefusedByGitHub || s.Reason != groupReason {
			t.Fatalf("serving after a refusal: %+v, want github_refused with the reason", s)
		}
		if j := job(); j.AgentState != portalapi.JobBackingOff || j.AgentReason != groupReason {
			t.Fatalf("job after a refusal: %s %q, want backing_off with the reason", j.AgentState, j.AgentReason)
		}
		if err := mint("ok-1"); err != nil {
			t.Fatal(err)
		}
		if s := serving(); s.State != portalapi.PolicyServed {
			t.Fatalf("serving after a runner was minted: %+v, want served", s)
		}
		if j := job(); j.AgentState != portalapi.JobRunnerRequested {
			t.Fatalf("job after a runner was minted: %s, want the agent's runner_requested", j.AgentState)
		}

		// A changed policy is not held to the refusal of its earlier version.
		if err := mint("refused-2"); err == nil {
			t.Fatal("refused mint: no error")
		}
		cur, err := st.GetPolicy(ctx, p.RepoKey, p.Name, false)
		if err != nil {
			t.Fatal(err)
		}
		cur.RunnerGroup = "other"
		if err := st.UpdatePolicy(ctx, cur, cur.Version); err != nil {
			t.Fatal(err)
		}
		if s := serving(); s.State != portalapi.PolicyServed {
			t.Fatalf("serving after the policy changed: %+v, want served", s)
		}
	})
}
