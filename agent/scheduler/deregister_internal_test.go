package scheduler

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
)

// downServer mints credentials without a GitHub id (the agent knows the runner by name
// only) and cannot remove runners while down.
type downServer struct {
	down    atomic.Bool
	removes atomic.Int32
}

func (d *downServer) Credentials(_ context.Context, req protocol.CredentialsRequest) (protocol.Credentials, error) {
	return protocol.Credentials{Kind: "jit", RunnerName: req.RunnerName, JITConfig: "jit", Ephemeral: true}, nil
}

func (d *downServer) RemoveRunner(context.Context, protocol.RemoveRunnerRequest) error {
	d.removes.Add(1)
	if d.down.Load() {
		return errors.New("POST /agent/v1/runners/remove: 502 bad_gateway")
	}
	return nil
}

// A runner that failed before taking a job keeps its record until the server confirms
// its registration's removal: a removal while no server answers is retried, not dropped
// (the chaos suite's full run left such a registration at GitHub after an outage).
func TestFailedRunnerIsDeregisteredAfterAnOutage(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC))
	mem := memory.New(func(context.Context, memory.Runner) error { return memory.ExitError{Code: 1} })
	t.Cleanup(mem.Close)
	srv := &downServer{}
	srv.down.Store(true)
	s := New(Options{AgentID: "agent-1", Provider: mem, Server: srv, Now: clock.Now,
		Backoff: backoff.Policy{Base: time.Second, Cap: time.Second}})
	pol := protocol.Policy{
		ID: "p-small", Repository: "acme/api", Name: "small", Labels: []string{"small"}, MinIdle: 1, MaxRunners: 1,
		Ephemeral: true, IdleGrace: protocol.Duration(time.Hour), BootstrapTimeout: protocol.Duration(time.Hour),
	}
	s.SetConfig(protocol.Config{Version: "1", AgentID: "agent-1", Repositories: []string{"acme/api"}, Policies: []protocol.Policy{pol}})
	s.SetJobs(protocol.JobsSnapshot{Version: "1"})
	ctx := t.Context()
	tick := func() {
		t.Helper()
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		s.Wait()
	}
	failed := func() string {
		for _, r := range s.Records() {
			if r.State == protocol.RunnerFailed {
				return r.Name
			}
		}
		return ""
	}
	// Created; then seen exited with code 1 before taking a job; its removal fails.
	for i := 0; i < 10 && srv.removes.Load() == 0; i++ {
		tick()
		clock.Advance(100 * time.Millisecond)
	}
	name := failed()
	if srv.removes.Load() == 0 || name == "" {
		t.Fatalf("after the failure: %d removals, records %v; want one failed removal and the failed record kept", srv.removes.Load(), s.Records())
	}
	clock.Advance(2 * time.Second)
	tick()
	if n := srv.removes.Load(); n < 2 {
		t.Fatalf("%d removals: the failed removal was not retried", n)
	}
	srv.down.Store(false) // the server is back
	clock.Advance(2 * time.Second)
	tick()
	for _, r := range s.Records() {
		if r.Name == name {
			t.Fatalf("record %v still there after the server confirmed the removal", r)
		}
	}
}
