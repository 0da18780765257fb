package agenttest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit/agenttest"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
)

// The server double mints on the simulator, answers busy for a runner on a job, and fails
// every call while down; Jobs lists the open jobs with a version that follows them.
func TestServerAndJobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	srv := &agenttest.Server{Env: env}
	empty := agenttest.Jobs(env.Sim, "acme/api")
	if empty.Jobs == nil || len(empty.Jobs) != 0 || empty.Version == "" {
		t.Fatalf("jobs of an empty queue: %+v", empty)
	}
	job, err := env.Sim.QueueJob(ctx, "acme/api", []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	snap := agenttest.Jobs(env.Sim, "acme/api")
	if len(snap.Jobs) != 1 || snap.Jobs[0].ID != job.ID || snap.Jobs[0].Policy != "small" || snap.Version == empty.Version {
		t.Fatalf("jobs %+v (version %q, before %q)", snap.Jobs, snap.Version, empty.Version)
	}

	creds, err := srv.Credentials(ctx, protocol.CredentialsRequest{Repository: "acme/api", Policy: "small", RunnerName: "r1"})
	if err != nil || creds.JITConfig == "" || creds.RunnerID == 0 || srv.Creds.Load() != 1 {
		t.Fatalf("credentials %+v, %v (%d minted)", creds, err, srv.Creds.Load())
	}
	run := make(chan error, 1)
	go func() { run <- env.Sim.RunRunner(ctx, creds.JITConfig, time.Minute) }() // takes the job, runs a minute
	deadline := time.Now().Add(10 * time.Second)
	for j, _ := env.Sim.Job(job.ID); j.Status != "in_progress"; j, _ = env.Sim.Job(job.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the runner did not take the job")
		}
		time.Sleep(5 * time.Millisecond)
	}
	remove := protocol.RemoveRunnerRequest{Repository: "acme/api", RunnerName: "r1", RunnerID: creds.RunnerID}
	if err := srv.RemoveRunner(ctx, remove); !errors.Is(err, protocol.ErrRunnerBusy) || srv.Refused.Load() != 1 {
		t.Fatalf("remove a busy runner: %v (%d refused)", err, srv.Refused.Load())
	}

	outage := errors.New("connection refused")
	srv.Down.Store(&outage)
	if _, err := srv.Credentials(ctx, protocol.CredentialsRequest{Repository: "acme/api", Policy: "small", RunnerName: "r2"}); !errors.Is(err, outage) {
		t.Errorf("credentials while down: %v", err)
	}
	if err := srv.RemoveRunner(ctx, remove); !errors.Is(err, outage) || srv.Creds.Load() != 1 || srv.Removes.Load() != 1 {
		t.Errorf("remove while down: %v (%d minted, %d removals)", err, srv.Creds.Load(), srv.Removes.Load())
	}
}

// A hung provider's listing answers until it is hung, then waits for its context; the
// wrapped provider's other calls go on. WaitState returns the state waited for.
func TestHungProviderAndWaitState(t *testing.T) {
	t.Parallel()
	mem := memory.New(func(context.Context, memory.Runner) error { return memory.ExitError{Code: 3} })
	t.Cleanup(mem.Close)
	hung := agenttest.Hang(mem)
	in, err := hung.Create(t.Context(), provider.RunnerRequest{Name: "r1", Labels: map[string]string{provider.LabelManagedBy: provider.ManagedByGaro}})
	if err != nil {
		t.Fatal(err)
	}
	if got := agenttest.WaitState(t, hung, in.ID, provider.StateExited, 5*time.Second); got.ExitCode != 3 {
		t.Fatalf("exited %d", got.ExitCode)
	}
	if list, err := hung.List(t.Context(), nil); err != nil || len(list) != 1 || hung.HungListings() != 0 {
		t.Fatalf("list before the hang: %+v, %v (%d hung)", list, err, hung.HungListings())
	}
	hung.SetHung(true)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := hung.List(ctx, nil); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("hung list returned %v after %s", err, time.Since(start))
	}
	if hung.HungListings() != 1 {
		t.Errorf("%d hung listings, want 1", hung.HungListings())
	}
	hung.SetHung(false)
	if _, err := hung.List(t.Context(), nil); err != nil || hung.HungListings() != 1 {
		t.Errorf("list after the hang: %v (%d hung)", err, hung.HungListings())
	}
}
