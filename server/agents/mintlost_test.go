package agents_test

import (
	"context"
	"fmt"
	"slices"
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
