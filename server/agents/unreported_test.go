package agents_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/jobs"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// ghRunners stands in for server/runners on a GitHub that keeps the runners it minted:
// names starting with "reg-" get a registration token (no id: found by name).
type ghRunners struct {
	mu      sync.Mutex
	nextID  int64
	byName  map[string]int64
	busy    map[string]bool
	removed []string
	// removeCalls counts the removals asked of GitHub, answered or not.
	removeCalls int
	// orgCalls counts the calls through the organisation routes.
	orgCalls int
}

func newGHRunners() *ghRunners {
	return &ghRunners{nextID: 100, byName: map[string]int64{}, busy: map[string]bool{}}
}

func (g *ghRunners) Credentials(_ context.Context, p *store.Policy, name string) (*runners.Credentials, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	g.byName[name] = g.nextID
	if strings.HasPrefix(name, "reg-") {
		return &runners.Credentials{Kind: runners.KindRegistrationToken, RunnerName: name, Labels: p.Labels, RegistrationToken: "reg-secret"}, nil
	}
	return &runners.Credentials{Kind: runners.KindJIT, RunnerName: name, RunnerID: g.nextID, Labels: p.Labels, Ephemeral: true, JITConfig: "jit-secret"}, nil
}

func (g *ghRunners) Remove(_ context.Context, _, _ string, id int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeCalls++
	for name, have := range g.byName {
		if have != id {
			continue
		}
		if g.busy[name] {
			return fmt.Errorf("runner %d: %w", id, runners.ErrRunnerBusy)
		}
		delete(g.byName, name)
		g.removed = append(g.removed, name)
	}
	return nil // GitHub answers 404 for a runner it does not know: gone already
}

func (g *ghRunners) FindByName(_ context.Context, _, _, name string) (*githubapp.Runner, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if id, ok := g.byName[name]; ok {
		return &githubapp.Runner{ID: id, Name: name, Busy: g.busy[name]}, nil
	}
	return nil, nil
}

func (g *ghRunners) Get(_ context.Context, _, _ string, id int64) (*githubapp.Runner, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, have := range g.byName {
		if have == id {
			return &githubapp.Runner{ID: id, Name: name, Busy: g.busy[name]}, nil
		}
	}
	return nil, fmt.Errorf("runner %d: %w", id, githubapp.ErrNotFound)
}

// gone forgets name as GitHub does an ephemeral runner after its job.
func (g *ghRunners) gone(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.byName, name)
}

func (g *ghRunners) removals() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.removeCalls
}

func (g *ghRunners) state() (registered, removed []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for n := range g.byName {
		registered = append(registered, n)
	}
	slices.Sort(registered)
	removed = slices.Clone(g.removed)
	slices.Sort(removed)
	return registered, removed
}

// TestSweepUnreported: a runner minted for an agent that never reported it (the agent
// died before starting it) is removed from GitHub after agents.unreported_runner_timeout;
// runners the agent reported or removed itself are not touched, a busy one is kept and
// retried, a registration-token runner is found by name.
func TestSweepUnreported(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		const timeout = 30 * time.Minute
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: timeout, Now: clk.Now}, nil, gh, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t) // takes acme/web
		for _, name := range []string{"lost-1", "reg-lost", "reported-1", "removed-1", "busy-1"} {
			if _, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: name}); err != nil {
				t.Fatalf("credentials for %s: %v", name, err)
			}
		}
		// reported-1 has its instance; lost-1 is reported while still being created (no
		// instance yet), which does not make it the agent's: it may die before creating it.
		x.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: []protocol.RunnerStatus{
			{Name: "reported-1", Repository: "acme/web", Policy: "linux", State: protocol.RunnerIdle, RunnerID: 103, ProviderID: "c-103", CreatedAt: clk.Now()},
			{Name: "lost-1", Repository: "acme/web", Policy: "linux", State: protocol.RunnerCreating, RunnerID: 101, CreatedAt: clk.Now()},
		}})
		// The agent reports nothing in its next heartbeat: reported-1 stays its own.
		x.heartbeat(t, protocol.HeartbeatRequest{State: protocol.AgentActive})
		if err := svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "removed-1", RunnerID: 104}); err != nil {
			t.Fatal(err)
		}
		gh.mu.Lock()
		gh.busy["busy-1"] = true
		gh.mu.Unlock()

		sweep := func(want int) {
			t.Helper()
			n, err := svc.SweepUnreported(ctx)
			if err != nil || n != want {
				t.Fatalf("sweep at +%s = %d, %v; want %d", clk.Now().Sub(newClock().Now()), n, err, want)
			}
		}
		clk.Advance(timeout - time.Second)
		sweep(0)
		if _, removed := gh.state(); !slices.Equal(removed, []string{"removed-1"}) {
			t.Fatalf("removed before the timeout: %v", removed)
		}
		clk.Advance(2 * time.Second)
		sweep(2)
		registered, removed := gh.state()
		if !slices.Equal(registered, []string{"busy-1", "reported-1"}) || !slices.Equal(removed, []string{"lost-1", "reg-lost", "removed-1"}) {
			t.Fatalf("after the sweep: registered %v, removed %v", registered, removed)
		}
		sweep(0) // busy: kept, and asked again next time
		gh.mu.Lock()
		gh.busy["busy-1"] = false
		gh.mu.Unlock()
		sweep(1)
		sweep(0)
		if registered, _ := gh.state(); !slices.Equal(registered, []string{"reported-1"}) {
			t.Fatalf("left on GitHub: %v, want only the reported runner", registered)
		}

		// Off: nothing is swept.
		off := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Now: clk.Now}, nil, gh, testkit.Discard(), nil)
		if _, err := off.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "lost-2"}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * timeout)
		if n, err := off.SweepUnreported(ctx); n != 0 || err != nil {
			t.Fatalf("sweep while off = %d, %v", n, err)
		}
		sweep(1) // the sweeping replica removes it
	})
}

// TestShortRunnersAreNotSwept: a runner that took its job and went between two heartbeats
// of its agent is struck off the unreported runners by the job's webhook (GitHub names
// it), so the sweep sends nothing for it; one that no webhook named and GitHub no longer
// knows is counted gone, without a DELETE (issue 14, finding 2).
func TestShortRunnersAreNotSwept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		const timeout = time.Minute
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: timeout, Now: clk.Now}, nil, gh, testkit.Discard(), nil)
		js := jobs.NewService(st, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		for i, name := range []string{"quick-1", "quick-2", "unnamed"} {
			if _, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: name}); err != nil {
				t.Fatalf("credentials for %s: %v", name, err)
			}
			if name == "unnamed" {
				continue
			}
			for _, action := range []string{"queued", "in_progress", "completed"} {
				ev := jobs.Event{Action: action, JobID: int64(500 + i), RunID: 9, Owner: "acme", Repo: "web", Labels: []string{"self-hosted", "linux"}, Source: "webhook"}
				if action != "queued" {
					ev.RunnerName = name
				}
				if _, _, err := js.Apply(ctx, ev); err != nil {
					t.Fatalf("%s of job for %s: %v", action, name, err)
				}
			}
			gh.gone(name) // ephemeral: GitHub drops it after its job
		}
		gh.gone("unnamed")
		clk.Advance(2 * timeout)
		if n, err := svc.SweepUnreported(ctx); err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v; want 1 (unnamed, gone)", n, err)
		}
		if _, removed := gh.state(); len(removed) != 0 {
			t.Errorf("DELETEs sent for runners GitHub no longer knows: %v", removed)
		}
		for _, name := range []string{"quick-1", "quick-2"} {
			m, err := st.GetMinted(ctx, name)
			if err != nil || m.ReportedAt == nil {
				t.Errorf("minted record of %s = %+v, %v; want struck off the unreported (reported_at set)", name, m, err)
			}
		}
		if _, err := st.GetMinted(ctx, "unnamed"); err == nil {
			t.Error("the swept record of unnamed is still there")
		}
	})
}

// The organisation routes behave as the repository ones in this fake.
func (g *ghRunners) RemoveOrg(ctx context.Context, owner, repo string, id int64) error {
	g.mu.Lock()
	g.orgCalls++
	g.mu.Unlock()
	return g.Remove(ctx, owner, repo, id)
}

func (g *ghRunners) FindByNameOrg(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error) {
	return g.FindByName(ctx, owner, repo, name)
}

func (g *ghRunners) GetOrg(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error) {
	return g.Get(ctx, owner, repo, id)
}
