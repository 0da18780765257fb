package agents_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// lostAnswer is a GitHub that registers the runner and whose answer never arrives (the
// replica was killed while it waited, as in the chaos suite's outage).
type lostAnswer struct{ *ghRunners }

func (g lostAnswer) Credentials(ctx context.Context, p *store.Policy, name string) (*runners.Credentials, error) {
	if _, err := g.ghRunners.Credentials(ctx, p, name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: connection reset by peer", githubapp.ErrUnavailable)
}

// A registration GitHub made for a mint whose answer was lost is the agent's to remove,
// by name: the server's reservation of the runner is kept when GitHub's answer may have
// been lost. Before, it was dropped with any failure, the server answered the removal
// "no record: nothing to remove", and the chaos suite's outage left one registration
// for good (issue 14).
func TestRegistrationOfALostMintIsRemovable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: 30 * time.Minute, Now: clk.Now},
			nil, lostAnswer{gh}, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		if _, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "half"}); err == nil {
			t.Fatal("credentials whose answer was lost: no error")
		}
		if registered, _ := gh.state(); !slices.Equal(registered, []string{"half"}) {
			t.Fatalf("registered at GitHub: %v, want half", registered)
		}
		if err := svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "half"}); err != nil {
			t.Fatal(err)
		}
		if registered, removed := gh.state(); len(registered) != 0 || !slices.Equal(removed, []string{"half"}) {
			t.Fatalf("after the agent's removal by name: registered %v, removed %v; want half removed", registered, removed)
		}
	})
}

// conflicting is a GitHub that answers generate-jitconfig as GitHub does for a name it
// has registered already (409 "Already exists - A runner with the name … already
// exists.", githubsim/actions_api.go cites the source) and loses the answers of its first
// lose mints: it registers the runner, and its answer never arrives.
type conflicting struct {
	*ghRunners
	mu    sync.Mutex
	lose  int
	mints int
}

func (g *conflicting) Credentials(ctx context.Context, p *store.Policy, name string) (*runners.Credentials, error) {
	g.mu.Lock()
	g.mints++
	g.mu.Unlock()
	if r, _ := g.FindByName(ctx, p.Owner, p.Repo, name); r != nil {
		return nil, fmt.Errorf("mint jit config for %s: %w: 409 Already exists", name, githubapp.ErrRunnerExists)
	}
	g.mu.Lock()
	lose := g.lose > 0
	if lose {
		g.lose--
	}
	g.mu.Unlock()
	c, err := g.ghRunners.Credentials(ctx, p, name)
	if err != nil || !lose {
		return c, err
	}
	return nil, fmt.Errorf("%w: connection reset by peer", githubapp.ErrUnavailable)
}

func (g *conflicting) calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mints
}

// An agent that asks again with the same name for a runner whose answer it never got
// gets a working runner: the server removes the registration of the unanswered mint (ours
// by its record) and mints the runner again, once. GitHub ends with exactly one
// registration of that name, the one the agent holds, and the record names its id.
// Before, the retry met GitHub's 409 "Already exists" and the job waited (issue 15: 27
// times in the bench's jobs scenario).
func TestRetriedMintReplacesTheUnansweredRegistration(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose int // GitHub's answer lost (1), or the server's (0: minted and recorded, not delivered)
	}{{"github's answer lost", 1}, {"server's answer lost", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Each(t, func(t *testing.T, b testdb.Backend) {
				t.Parallel()
				ctx := t.Context()
				st := testdb.Open(t, b)
				clk := newClock()
				gh := &conflicting{ghRunners: newGHRunners(), lose: tc.lose}
				svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: 30 * time.Minute, Now: clk.Now},
					nil, gh, testkit.Discard(), nil)
				x := register(t, svc, "default", "x")
				addPolicy(t, st, "acme/web", "linux", "default")
				x.config(t)
				req := protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-retry"}
				first, err := svc.Credentials(ctx, x.auth(t), req)
				if tc.lose > 0 && err == nil {
					t.Fatal("credentials whose answer was lost: no error")
				} else if tc.lose == 0 && err != nil {
					t.Fatal(err)
				}
				c, err := svc.Credentials(ctx, x.auth(t), req)
				if err != nil {
					t.Fatalf("credentials asked again with the same name: %v", err)
				}
				registered, removed := gh.state()
				if !slices.Equal(registered, []string{req.RunnerName}) || !slices.Equal(removed, []string{req.RunnerName}) {
					t.Fatalf("at GitHub: registered %v, removed %v; want the unanswered registration removed and one left", registered, removed)
				}
				if got, _ := gh.FindByName(ctx, "acme", "web", req.RunnerName); got == nil || got.ID != c.RunnerID || (first != nil && first.RunnerID == c.RunnerID) {
					t.Fatalf("registration left %+v, answered runner id %d: want the runner minted again", got, c.RunnerID)
				}
				if n := gh.calls(); n != 3 {
					t.Errorf("mint calls = %d, want 3 (the unanswered one, the 409, the mint again)", n)
				}
				if m, err := st.GetMinted(ctx, req.RunnerName); err != nil || m.RunnerID != c.RunnerID || m.AgentID != x.id {
					t.Fatalf("record = %+v, %v; want runner id %d for agent %s", m, err, c.RunnerID, x.id)
				}
				// The record proves the runner the agent holds: its removal goes through.
				if err := svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: req.RunnerName, RunnerID: c.RunnerID}); err != nil {
					t.Fatal(err)
				}
				if registered, _ := gh.state(); len(registered) != 0 {
					t.Fatalf("registered after the removal: %v", registered)
				}
			})
		})
	}
}

// A conflict the server cannot resolve stays a conflict, and nothing is removed: a
// registration of that name the server never minted (not ours), or one GitHub calls
// busy (its config runs after all).
func TestConflictNotOursIsKept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := &conflicting{ghRunners: newGHRunners(), lose: 1}
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: 30 * time.Minute, Now: clk.Now},
			nil, gh, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		gh.byName["foreign"] = 1 // registered by somebody else
		if _, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "foreign"}); !errors.Is(err, githubapp.ErrRunnerExists) {
			t.Fatalf("credentials for a name GitHub has and the server never minted: %v, want ErrRunnerExists", err)
		}
		if _, err := st.GetMinted(ctx, "foreign"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record of a name not minted: %v, want none", err)
		}
		req := protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "half"}
		if _, err := svc.Credentials(ctx, x.auth(t), req); err == nil {
			t.Fatal("credentials whose answer was lost: no error")
		}
		gh.ghRunners.mu.Lock()
		gh.busy["half"] = true
		gh.ghRunners.mu.Unlock()
		if _, err := svc.Credentials(ctx, x.auth(t), req); !errors.Is(err, githubapp.ErrRunnerExists) {
			t.Fatalf("credentials again for a name GitHub calls busy: %v, want ErrRunnerExists", err)
		}
		if registered, removed := gh.state(); !slices.Equal(registered, []string{"foreign", "half"}) || len(removed) != 0 {
			t.Fatalf("at GitHub: registered %v, removed %v; want both kept", registered, removed)
		}
	})
}

// The registration of a mint whose answer was lost, and that its agent never asks for
// again (it died, or took another name), is removed by the sweep of unreported runners.
func TestSweepRemovesTheRegistrationOfALostMint(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := newGHRunners()
		const timeout = 30 * time.Minute
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: timeout, Now: clk.Now},
			nil, lostAnswer{gh}, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		if _, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "half"}); err == nil {
			t.Fatal("credentials whose answer was lost: no error")
		}
		clk.Advance(timeout + time.Minute)
		if n, err := svc.SweepUnreported(ctx); err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v; want 1", n, err)
		}
		if registered, removed := gh.state(); len(registered) != 0 || !slices.Equal(removed, []string{"half"}) {
			t.Fatalf("after the sweep: registered %v, removed %v; want half removed", registered, removed)
		}
	})
}

// The server asks GitHub for one runner name's credentials a bounded number of times,
// however often its agent asks again after lost answers: then it refuses the name
// (conflict: the agent takes another) without asking GitHub.
func TestMintsOfOneNameAreBounded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := &conflicting{ghRunners: newGHRunners(), lose: 1000}
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: 30 * time.Minute, Now: clk.Now},
			nil, gh, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		req := protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "unlucky"}
		var last error
		for range 20 {
			_, last = svc.Credentials(ctx, x.auth(t), req)
			if last == nil {
				t.Fatal("credentials whose answers are all lost: no error")
			}
		}
		if !errors.Is(last, store.ErrAlreadyExists) {
			t.Errorf("the last ask: %v, want a refusal of the name (ErrAlreadyExists)", last)
		}
		if n := gh.calls(); n != 8 {
			t.Errorf("mint calls = %d, want 8 (the bound)", n)
		}
		// Another name is minted as ever.
		gh.mu.Lock()
		gh.lose = 0
		gh.mu.Unlock()
		if _, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "lucky"}); err != nil {
			t.Fatal(err)
		}
	})
}

// The unanswered registration of an organisation-level runner is looked up and removed
// through the organisation's routes, where it registered.
func TestRetriedOrgMintReplacesTheUnansweredRegistration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		gh := &conflicting{ghRunners: newGHRunners(), lose: 1}
		svc := agents.New(st, agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: 30 * time.Minute, Now: clk.Now},
			nil, gh, testkit.Discard(), nil)
		x := register(t, svc, "default", "x")
		p := addPolicy(t, st, "acme/web", "linux", "default")
		p.RegistrationLevel, p.RunnerGroup = store.LevelOrganization, "Default"
		if err := st.UpdatePolicy(ctx, p, p.Version); err != nil {
			t.Fatal(err)
		}
		x.config(t)
		req := protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "org-retry"}
		if _, err := svc.Credentials(ctx, x.auth(t), req); err == nil {
			t.Fatal("credentials whose answer was lost: no error")
		}
		if _, err := svc.Credentials(ctx, x.auth(t), req); err != nil {
			t.Fatalf("credentials asked again with the same name: %v", err)
		}
		registered, removed := gh.state()
		if !slices.Equal(registered, []string{"org-retry"}) || !slices.Equal(removed, []string{"org-retry"}) {
			t.Fatalf("at GitHub: registered %v, removed %v", registered, removed)
		}
		gh.ghRunners.mu.Lock()
		defer gh.ghRunners.mu.Unlock()
		if gh.orgCalls != 1 {
			t.Errorf("removals through the organisation's routes = %d, want 1", gh.orgCalls)
		}
	})
}
