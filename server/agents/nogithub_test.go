package agents_test

import (
	"errors"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/agents"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestWithoutGitHub: a service whose runners stand on githubapp.NotConfigured (a server
// without GitHub credentials) answers runner credentials and removal with
// ErrNotConfigured (a failure to retry, no protocol refusal); the sweep of unreported
// runners gives up on it at once instead of failing every interval.
func TestWithoutGitHub(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		clk := newClock()
		const timeout = 30 * time.Minute
		cfg := agents.Config{Heartbeat: heartbeat, LongPoll: 5 * time.Second, Offline: offline, Unreported: timeout, Now: clk.Now}
		// A runner minted while GitHub was configured, never reported.
		withGitHub := agents.New(st, cfg, nil, newGHRunners(), testkit.Discard(), nil)
		x := register(t, withGitHub, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		if _, err := withGitHub.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "lost-1"}); err != nil {
			t.Fatal(err)
		}

		svc := agents.New(st, cfg, nil, runners.NewService(runners.Config{}, githubapp.NotConfigured{}), testkit.Discard(), nil)
		x = x.on(svc)
		_, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "garo-linux-1"})
		wantNotConfigured(t, "credentials", err)
		// Only a runner the server minted may be removed: lost-1, minted while GitHub was
		// configured.
		lost, err := st.GetMinted(ctx, "lost-1")
		if err != nil {
			t.Fatal(err)
		}
		err = svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerID: lost.RunnerID, RunnerName: "lost-1"})
		wantNotConfigured(t, "remove by id", err)
		err = svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerName: "lost-1"})
		wantNotConfigured(t, "remove by name", err)

		clk.Advance(2 * timeout)
		n, err := svc.SweepUnreported(ctx)
		wantNotConfigured(t, "sweep", err)
		if n != 0 {
			t.Errorf("swept %d without GitHub", n)
		}
		done := make(chan struct{})
		ticks := 0
		go func() {
			defer close(done)
			svc.RunSweep(ctx, time.Minute, func(time.Duration) <-chan time.Time {
				ticks++
				c := make(chan time.Time, 1)
				c <- clk.Now()
				return c
			})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RunSweep goes on without GitHub")
		}
		if ticks != 1 {
			t.Errorf("RunSweep swept %d times, want once", ticks)
		}
	})
}

func wantNotConfigured(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, githubapp.ErrNotConfigured) {
		t.Errorf("%s without GitHub = %v, want ErrNotConfigured", what, err)
	}
	if _, _, ok := protocol.Answer(err); ok {
		t.Errorf("%s without GitHub = %v, a refusal of the protocol", what, err)
	}
}

// TestRemoveBusyRunner: GitHub's "busy" comes out of the service as the protocol's
// ErrRunnerBusy, which the API answers 409 runner_busy.
func TestRemoveBusyRunner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		gh := newGHRunners()
		svc := newService(st, newClock(), nil, gh)
		x := register(t, svc, "default", "x")
		addPolicy(t, st, "acme/web", "linux", "default")
		x.config(t)
		creds, err := svc.Credentials(ctx, x.auth(t), protocol.CredentialsRequest{Repository: "acme/web", Policy: "linux", RunnerName: "busy-1"})
		if err != nil {
			t.Fatal(err)
		}
		gh.mu.Lock()
		gh.busy["busy-1"] = true
		gh.mu.Unlock()
		err = svc.RemoveRunner(ctx, x.auth(t), protocol.RemoveRunnerRequest{Repository: "acme/web", RunnerID: creds.RunnerID, RunnerName: "busy-1"})
		if status, code, _ := protocol.Answer(err); !errors.Is(err, protocol.ErrRunnerBusy) || status != 409 || code != protocol.CodeRunnerBusy {
			t.Fatalf("remove a busy runner = %v (answered %d %q), want ErrRunnerBusy", err, status, code)
		}
	})
}
