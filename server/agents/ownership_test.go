package agents_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestOneAgentServesItsGroup: the common case. One agent of a group serves every
// repository with an enabled policy of its group, and nothing else; a disabled or deleted
// policy's repository leaves its config.
func TestOneAgentServesItsGroup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		svc := newService(st, newClock(), nil, nil)
		if err := st.CreateAgentGroup(ctx, &store.AgentGroup{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		a := register(t, svc, "default", "host-1")
		if got := a.repos(t); got != "" {
			t.Fatalf("repositories before any policy = %q", got)
		}
		addPolicy(t, st, "acme/web", "linux", "default")
		addPolicy(t, st, "acme/web", "arm", "default")
		addPolicy(t, st, "Acme/API", "linux", "default")
		addPolicy(t, st, "acme/web", "cuda", "gpu") // another group's policy of the same repository
		addPolicy(t, st, "acme/ml", "cuda", "gpu")
		svc.PolicyChanged(ctx, "acme/web", "default") // as the portal API does after a write

		cfg := a.config(t)
		if got := strings.Join(cfg.Repositories, " "); got != "Acme/API acme/web" {
			t.Fatalf("repositories = %q", got)
		}
		var names []string
		for _, p := range cfg.Policies {
			names = append(names, p.Repository+"/"+p.Name)
			if p.Runner.Image != "runner:1" || p.Version != 1 || !p.Ephemeral {
				t.Errorf("policy %s = %+v", p.Name, p)
			}
		}
		if got := strings.Join(names, " "); got != "Acme/API/linux acme/web/arm acme/web/linux" {
			t.Fatalf("policies = %q", got)
		}
		if cfg.AgentID != a.id || cfg.Group != "default" || cfg.Version == "" {
			t.Fatalf("config = %+v", cfg)
		}
		if again := a.config(t); again.Version != cfg.Version {
			t.Fatal("the version changed without a change")
		}

		// Disable the API's only policy: the repository leaves.
		p, err := st.GetPolicy(ctx, "acme/api", "linux", false)
		if err != nil {
			t.Fatal(err)
		}
		p.Enabled = false
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		svc.PolicyChanged(ctx, "acme/api", "default")
		if got := a.repos(t); got != "acme/web" {
			t.Fatalf("repositories after disabling = %q", got)
		}
		rows, err := st.GroupOwnership(ctx, "default")
		if err != nil || len(rows) != 1 || rows[0].RepoKey != "acme/web" {
			t.Fatalf("ownership rows = %+v, %v", rows, err)
		}
	})
}

// TestOwnershipMovesWhenAgentGoesSilent: repositories are spread by fewest; an agent
// silent longer than the offline interval loses them to the live agent of its group on
// that agent's next poll, not before; a revoked agent loses them at once. No real sleeps:
// the clock is moved by hand.
func TestOwnershipMovesWhenAgentGoesSilent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		x := register(t, svc, "default", "x")
		y := register(t, svc, "default", "y")
		for i := 1; i <= 4; i++ {
			addPolicy(t, st, fmt.Sprintf("acme/r%d", i), "linux", "default")
		}
		x.heartbeat(t, protocol.HeartbeatRequest{})
		rx, ry := x.config(t).Repositories, y.config(t).Repositories
		if len(rx) != 2 || len(ry) != 2 || slices.ContainsFunc(rx, func(r string) bool { return slices.Contains(ry, r) }) {
			t.Fatalf("not spread by fewest: x %v, y %v", rx, ry)
		}

		// x goes silent. Just before the offline interval, nothing moves.
		clk.Advance(offline - time.Second)
		y.heartbeat(t, protocol.HeartbeatRequest{})
		if got := len(y.config(t).Repositories); got != 2 {
			t.Fatalf("y took x's repositories before x was offline: %d", got)
		}
		view, err := svc.Get(ctx, operator, x.id)
		if err != nil || view.Status != portalapi.AgentStatusStale || len(view.Repositories) != 2 {
			t.Fatalf("x before offline = %+v, %v", view, err)
		}

		// Past it, y's next poll takes them all.
		clk.Advance(2 * time.Second)
		if got := y.repos(t); got != "acme/r1 acme/r2 acme/r3 acme/r4" {
			t.Fatalf("y after x went offline = %q", got)
		}
		if view, _ = svc.Get(ctx, operator, x.id); view.Status != portalapi.AgentStatusOffline || len(view.Repositories) != 0 {
			t.Fatalf("x after offline = %+v", view)
		}

		// x comes back: it serves nothing until something is free again.
		x.heartbeat(t, protocol.HeartbeatRequest{})
		if got := x.repos(t); got != "" {
			t.Fatalf("x came back with %q", got)
		}
		addPolicy(t, st, "acme/r5", "linux", "default")
		svc.PolicyChanged(ctx, "acme/r5", "default") // as the portal API does after a write
		if got := x.repos(t); got != "acme/r5" {
			t.Fatalf("the new repository went to %q, want x (fewest)", got)
		}

		// Revoking y hands its repositories to x at once, without waiting for a lease.
		if err := svc.Revoke(ctx, operator, admin, y.id); err != nil {
			t.Fatal(err)
		}
		if got := x.repos(t); got != "acme/r1 acme/r2 acme/r3 acme/r4 acme/r5" {
			t.Fatalf("x after y was revoked = %q", got)
		}
		if _, err := svc.Authenticate(ctx, "Bearer "+y.credential); !errors.Is(err, agents.ErrUnauthenticated) {
			t.Fatalf("revoked agent authenticates: %v", err)
		}
	})
}

// TestConcurrentPollsNeverShareRepositories: two agents of a group poll and ask for runner
// credentials concurrently, on two server replicas sharing one database (PostgreSQL; on
// SQLite one server), while repositories keep appearing. Every repository ends up owned
// by exactly one of them, the split stays within one, and for every repository only one
// agent was ever granted credentials.
func TestConcurrentPollsNeverShareRepositories(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		clk := newClock()
		st1 := testdb.Open(t, b)
		st2 := st1
		if b.Driver == store.DriverPostgres {
			st2 = testdb.Open(t, b) // a second replica: its own connection pool
		}
		m := &minter{}
		n := notify.NewLocal()
		svc1, svc2 := newService(st1, clk, n, m), newService(st2, clk, n, m)
		x := register(t, svc1, "default", "x")
		y := register(t, svc1, "default", "y").on(svc2)

		const repos = 24
		var (
			mu      sync.Mutex
			granted = map[string]map[string]bool{} // repository → agents granted credentials
			wg      sync.WaitGroup
		)
		grant := func(a *agent, repo string) {
			_, err := a.svc.Credentials(ctx, a.auth(t), protocol.CredentialsRequest{Repository: repo, Policy: "linux", RunnerName: "r-" + a.id[:8]})
			if errors.Is(err, agents.ErrNotOwner) || errors.Is(err, store.ErrNotFound) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if granted[repo] == nil {
				granted[repo] = map[string]bool{}
			}
			granted[repo][a.id] = true
		}
		written := make(chan struct{}) // closed once every policy is written
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(written)
			for i := range repos {
				addPolicy(t, st1, fmt.Sprintf("acme/c%02d", i), "linux", "default")
				svc1.PolicyChanged(ctx, fmt.Sprintf("acme/c%02d", i), "default") // written through replica 1's API
			}
		}()
		poll := func(a *agent, repo string) bool {
			if _, _, err := a.svc.WaitConfig(ctx, a.auth(t), "", 0); err != nil {
				t.Error(err)
				return false
			}
			grant(a, repo)
			return true
		}
		for _, a := range []*agent{x, y} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 3 * repos {
					if !poll(a, fmt.Sprintf("acme/c%02d", i%repos)) {
						return
					}
				}
				// Under load these polls may all end before the writer added a policy; one
				// more pass once every policy exists makes sure there was something to grant.
				<-written
				for i := range repos {
					if !poll(a, fmt.Sprintf("acme/c%02d", i)) {
						return
					}
				}
			}()
		}
		wg.Wait()

		// Replica 2 learns of replica 1's writes within its settle memo.
		clk.Advance(time.Second)
		rx, ry := x.config(t).Repositories, y.config(t).Repositories
		if len(rx)+len(ry) != repos || abs(len(rx)-len(ry)) > 1 {
			t.Fatalf("x owns %d, y owns %d of %d", len(rx), len(ry), repos)
		}
		for _, r := range rx {
			if slices.Contains(ry, r) {
				t.Fatalf("both own %s", r)
			}
		}
		for repo, by := range granted {
			if len(by) > 1 {
				t.Errorf("both agents were granted credentials for %s", repo)
			}
		}
		if len(granted) == 0 {
			t.Fatal("no credentials were granted at all")
		}
	})
}

func abs(n int) int { return max(n, -n) }

// TestSettleMemo: a group found settled is not checked again for a second by this server,
// unless it announces a change itself: a policy written behind its back (another replica)
// reaches the agent's config after at most that second, one written through it
// (PolicyChanged, as the portal API does) at once.
func TestSettleMemo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		svc := newService(st, clk, nil, nil)
		a := register(t, svc, "default", "x")
		if got := a.repos(t); got != "" {
			t.Fatalf("repositories before any policy = %q", got)
		}
		addPolicy(t, st, "acme/quiet", "linux", "default") // not announced
		if got := a.repos(t); got != "" {
			t.Fatalf("repositories within the memo = %q, want none yet", got)
		}
		clk.Advance(999 * time.Millisecond)
		if got := a.repos(t); got != "" {
			t.Fatalf("repositories just before the memo ends = %q, want none yet", got)
		}
		clk.Advance(time.Millisecond)
		if got := a.repos(t); got != "acme/quiet" {
			t.Fatalf("repositories after the memo = %q, want acme/quiet", got)
		}
		addPolicy(t, st, "acme/told", "linux", "default")
		svc.PolicyChanged(ctx, "acme/told", "default")
		if got := a.repos(t); got != "acme/quiet acme/told" {
			t.Fatalf("repositories after an announced policy = %q", got)
		}
	})
}
