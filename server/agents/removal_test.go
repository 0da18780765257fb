package agents_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestForeignRunnerCannotBeClaimedOrRemoved is finding 2 of issue 11 as it was reproduced:
// an agent of group g1 re-reports, in two heartbeats, the name of an idle runner of
// other/x (served by g2), first under a repository it owns and then under other/x with the
// victim's GitHub id, and asks to remove it. The removal is refused, the g2 agent's row is
// unchanged, and GitHub is not asked.
func TestForeignRunnerCannotBeClaimedOrRemoved(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		svc := newService(st, clk, nil, gh)
		for _, g := range []string{"g1", "g2"} {
			if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: g}); err != nil {
				t.Fatal(err)
			}
		}
		attacker := register(t, svc, "g1", "attacker")
		victim := register(t, svc, "g2", "victim")
		addPolicy(t, st, "acme/web", "linux", "g1")
		addPolicy(t, st, "other/x", "linux", "g2")
		attacker.config(t) // owns acme/web
		victim.config(t)   // owns other/x

		creds, err := svc.Credentials(ctx, victim.auth(t), protocol.CredentialsRequest{Repository: "other/x", Policy: "linux", RunnerName: "x-idle-1"})
		if err != nil {
			t.Fatal(err)
		}
		own := protocol.RunnerStatus{Name: "x-idle-1", Repository: "other/x", Policy: "linux", ProviderID: "c-1",
			RunnerID: creds.RunnerID, State: protocol.RunnerIdle, CreatedAt: clk.Now()}
		victim.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{own}})
		before, err := st.GetRunner(ctx, "x-idle-1")
		if err != nil {
			t.Fatal(err)
		}

		// First under a repository the attacker owns, then under the victim's.
		spoof := own
		spoof.Repository, spoof.RunnerID, spoof.ProviderID = "acme/web", 999, "c-evil"
		attacker.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{spoof}})
		spoof.Repository, spoof.RunnerID = "other/x", creds.RunnerID
		attacker.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{spoof}})

		for _, req := range []protocol.RemoveRunnerRequest{
			{Repository: "other/x", RunnerName: "x-idle-1", RunnerID: creds.RunnerID},
			{Repository: "other/x", RunnerName: "x-idle-1"},
			{Repository: "acme/web", RunnerName: "x-idle-1", RunnerID: creds.RunnerID},
			{Repository: "acme/web", RunnerName: "x-idle-1"},
		} {
			if err := svc.RemoveRunner(ctx, attacker.auth(t), req); !errors.Is(err, agents.ErrNotOwner) {
				t.Errorf("the g1 agent removing %+v = %v, want ErrNotOwner", req, err)
			}
		}
		after, err := st.GetRunner(ctx, "x-idle-1")
		if err != nil {
			t.Fatalf("the g2 agent's row: %v", err)
		}
		if *after != *before {
			t.Errorf("the g2 agent's row changed:\n before %+v\n after  %+v", before, after)
		}
		if registered, removed := gh.state(); len(removed) != 0 || !slices.Contains(registered, "x-idle-1") {
			t.Errorf("GitHub: registered %v, removed %v; want x-idle-1 still registered and nothing removed", registered, removed)
		}

		// Nor can it mint credentials under the victim's name, to take its record over.
		if _, err := svc.Credentials(ctx, attacker.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "x-idle-1"}); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("the g1 agent minting the name x-idle-1 = %v, want ErrAlreadyExists", err)
		}

		// The victim still removes its own runner.
		if err := svc.RemoveRunner(ctx, victim.auth(t), protocol.RemoveRunnerRequest{Repository: "other/x", RunnerName: "x-idle-1", RunnerID: creds.RunnerID}); err != nil {
			t.Fatalf("the g2 agent removing its runner: %v", err)
		}
		if _, removed := gh.state(); !slices.Equal(removed, []string{"x-idle-1"}) {
			t.Errorf("removed at GitHub: %v, want x-idle-1", removed)
		}
	})
}

// TestStoreNeverMovesAnotherGroupsRunner: the store guard alone, without the service's
// checks, keeps another group's row and returns its name.
func TestStoreNeverMovesAnotherGroupsRunner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, newGHRunners())
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "g2"}); err != nil {
			t.Fatal(err)
		}
		x := register(t, svc, "default", "x")
		y := register(t, svc, "g2", "y")
		addPolicy(t, st, "acme/web", "linux", "default")
		addPolicy(t, st, "acme/web", "gpu", "g2") // one repository, served in both groups
		x.config(t)
		y.config(t)
		y.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{
			{Name: "shared-name", Repository: "acme/web", Policy: "linux", ProviderID: "c-y", RunnerID: 5, State: protocol.RunnerIdle, CreatedAt: clk.Now()},
		}})
		var refused []string
		err := st.Tx(ctx, func(tx *store.Store) error {
			var err error
			refused, err = tx.ReplaceRunners(ctx, x.id, []store.Runner{{Name: "shared-name", RepoKey: "acme/web", Policy: "linux", State: "idle", CreatedAt: clk.Now(), UpdatedAt: clk.Now()}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(refused, []string{"shared-name"}) {
			t.Errorf("refused = %v, want [shared-name]", refused)
		}
		if r, err := st.GetRunner(ctx, "shared-name"); err != nil || r.AgentID != y.id || r.ProviderID != "c-y" {
			t.Errorf("the g2 agent's row after x's replace: %+v, %v", r, err)
		}
	})
}

// TestRunnersOwnAgentMayRemove: the legitimate paths. An agent restarted with the same
// identity reports what it finds by its labels (after a heartbeat that left them out, and
// after losing the repository) and removes them; the agent that takes a repository over
// in the same group adopts the silent agent's runner and removes it.
func TestRunnersOwnAgentMayRemove(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		svc := newService(st, clk, nil, gh)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		mint := func(a *agent, name string) protocol.RunnerStatus {
			t.Helper()
			c, err := svc.Credentials(ctx, a.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: name})
			if err != nil {
				t.Fatal(err)
			}
			return protocol.RunnerStatus{Name: name, Repository: "acme/web", Policy: "linux", ProviderID: "c-" + name,
				RunnerID: c.RunnerID, State: protocol.RunnerIdle, CreatedAt: clk.Now()}
		}
		r1, r2, r3 := mint(x, "own-1"), mint(x, "own-2"), mint(x, "own-3")
		x.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{r1, r2, r3}})
		x.heartbeat(t, protocol.HeartbeatRequest{}) // restarted: nothing listed yet

		// x goes silent; y takes acme/web over.
		clk.Advance(2 * offline)
		y := register(t, svc, "default", "y")
		y.config(t)
		if got := y.repos(t); got != "acme/web" {
			t.Fatalf("y serves %q, want acme/web", got)
		}
		// x comes back with its runners from their labels: its own, though not its
		// repository any more; it removes one of them.
		x.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{r1, r2, r3}})
		for _, n := range []string{"own-1", "own-2", "own-3"} {
			if r, err := st.GetRunner(ctx, n); err != nil || r.AgentID != x.id {
				t.Errorf("%s after x's restart: %+v, %v", n, r, err)
			}
		}
		if err := svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "own-1", RunnerID: r1.RunnerID}); err != nil {
			t.Fatalf("x removing its own runner after a restart: %v", err)
		}
		// y, the owner now, adopts own-3 (on a shared engine) and removes it; it may not
		// remove own-2, which x holds.
		y.heartbeat(t, protocol.HeartbeatRequest{Runners: []protocol.RunnerStatus{r3}})
		if r, err := st.GetRunner(ctx, "own-3"); err != nil || r.AgentID != y.id {
			t.Errorf("own-3 after y adopted it: %+v, %v", r, err)
		}
		if err := svc.RemoveRunner(ctx, y.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "own-3", RunnerID: r3.RunnerID}); err != nil {
			t.Fatalf("y removing the runner it adopted: %v", err)
		}
		if err := svc.RemoveRunner(ctx, y.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "own-2", RunnerID: r2.RunnerID}); !errors.Is(err, agents.ErrNotOwner) {
			t.Errorf("y removing x's own-2 = %v, want ErrNotOwner", err)
		}
		if _, removed := gh.state(); !slices.Equal(removed, []string{"own-1", "own-3"}) {
			t.Errorf("removed at GitHub: %v, want own-1 and own-3", removed)
		}
	})
}

// TestRemovalOfARunnerGitHubUnregistered: a JIT runner whose job the job log holds
// completed with success was unregistered by GitHub after its job; the agent's removal of
// it (its container gone before the agent saw the job close) forgets the record without
// asking GitHub. A JIT runner whose job is still running, one whose job failed (a runner
// lost in the middle of its job stays registered, offline), and a registration-token
// runner are removed from GitHub as before.
func TestRemovalOfARunnerGitHubUnregistered(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		svc := newService(st, clk, nil, gh)
		a := register(t, svc, "default", "a1")
		addPolicy(t, st, "acme/web", "linux", "default")
		a.config(t)
		for _, name := range []string{"web-done", "web-running", "web-lost", "reg-done"} {
			if _, err := svc.Credentials(ctx, a.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: name}); err != nil {
				t.Fatalf("credentials %s: %v", name, err)
			}
		}
		for i, j := range []struct{ runner, state, conclusion, repo string }{
			{"web-done", "completed", "success", "web"}, {"web-running", "in_progress", "", "web"},
			{"web-lost", "completed", "failure", "web"}, {"reg-done", "completed", "success", "web"},
			{"web-running", "completed", "success", "api"}, // of another repository: not this runner's job
		} {
			job := &store.WorkflowJob{ID: int64(1000 + i), Owner: "acme", Repo: j.repo, RepoKey: store.RepoKey("acme", j.repo),
				State: j.state, GitHubStatus: j.state, Conclusion: j.conclusion, RunnerName: j.runner}
			if err := st.CreateJob(ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		gh.gone("web-done") // GitHub unregistered it after its job

		if err := svc.RemoveRunner(ctx, a.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "web-done"}); err != nil {
			t.Fatalf("remove web-done: %v", err)
		}
		if n := gh.removals(); n != 0 {
			t.Errorf("removing a JIT runner whose job completed asked GitHub %d times, want 0", n)
		}
		for _, name := range []string{"web-running", "web-lost", "reg-done"} {
			if err := svc.RemoveRunner(ctx, a.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: name}); err != nil {
				t.Fatalf("remove %s: %v", name, err)
			}
		}
		if registered, removed := gh.state(); len(registered) != 0 || !slices.Equal(removed, []string{"reg-done", "web-lost", "web-running"}) {
			t.Errorf("GitHub: registered %v, removed %v; want none registered, reg-done, web-lost and web-running removed", registered, removed)
		}
		for _, name := range []string{"web-done", "web-running", "web-lost", "reg-done"} {
			if _, err := st.GetMinted(ctx, name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("record of %s after its removal: %v, want ErrNotFound", name, err)
			}
		}
	})
}
