package memory_test

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
)

var _ provider.Provider = (*memory.Provider)(nil)

func req(name string) provider.RunnerRequest {
	return provider.RunnerRequest{
		Name: name, Repository: "acme/api", Policy: "small",
		Labels: map[string]string{
			provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelAgentID: "a1",
			provider.LabelRunner: name, provider.LabelRepository: "acme/api", provider.LabelPolicy: "small",
		},
	}
}

func TestLifecycleAndContract(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	p := memory.New(func(ctx context.Context, r memory.Runner) error {
		if r.Env["X"] != "spec" || r.JITConfig() != "secret" {
			return memory.ExitError{Code: 7}
		}
		select {
		case <-release:
			return memory.ExitError{Code: 3}
		case <-ctx.Done():
			return nil
		}
	})
	t.Cleanup(p.Close)
	ctx := t.Context()
	r := req("r1")
	r.Spec.Env = map[string]string{"X": "spec", provider.EnvJITConfig: "overridden"}
	r.Env = map[string]string{provider.EnvJITConfig: "secret"}
	in, err := p.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != provider.StateRunning || in.Name != "r1" || in.Labels[provider.LabelAgentID] != "a1" {
		t.Fatalf("created %+v", in)
	}
	if _, err := p.Create(ctx, req("r1")); err == nil {
		t.Fatal("second instance with the same name was created")
	}
	in2, err := p.Create(ctx, req("r2"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Peak("acme/api", "small"); got != 2 {
		t.Fatalf("peak %d, want 2", got)
	}
	close(release)
	// r1 has the right env and exits with 3 once released; r2 lacks it and exits with 7.
	if got := agenttest.WaitState(t, p, in.ID, provider.StateExited, 5*time.Second); got.ExitCode != 3 {
		t.Fatalf("r1 exit code %d, want 3", got.ExitCode)
	}
	if got := agenttest.WaitState(t, p, in2.ID, provider.StateExited, 5*time.Second); got.ExitCode != 7 {
		t.Fatalf("r2 exit code %d, want 7", got.ExitCode)
	}
	list, err := p.List(ctx, map[string]string{provider.LabelAgentID: "a1"})
	if err != nil || len(list) != 2 || list[0].Name != "r1" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if list, _ := p.List(ctx, map[string]string{provider.LabelAgentID: "other"}); len(list) != 0 {
		t.Fatalf("selector of another agent listed %+v", list)
	}
	for range 2 { // idempotent
		if err := p.Delete(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := p.State(ctx, in.ID); err != nil || got.State != provider.StateGone {
		t.Fatalf("state after delete = %+v, %v", got, err)
	}
	if err := p.Delete(ctx, "never-existed"); err != nil {
		t.Fatalf("delete of an unknown id: %v", err)
	}
}

func TestHooks(t *testing.T) {
	t.Parallel()
	p := memory.New(func(context.Context, memory.Runner) error { return nil })
	t.Cleanup(p.Close)
	ctx := t.Context()
	boom := errors.New("image pull failed")
	p.FailNextCreate(boom)
	if _, err := p.Create(ctx, req("r1")); !errors.Is(err, boom) {
		t.Fatalf("create error = %v, want %v", err, boom)
	}
	if list, _ := p.List(ctx, nil); len(list) != 0 {
		t.Fatalf("failed create left %+v", list)
	}
	p.HangNext(1)
	hung, err := p.Create(ctx, req("hung"))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := p.Create(ctx, req("ok"))
	if err != nil {
		t.Fatal(err)
	}
	agenttest.WaitState(t, p, ok.ID, provider.StateExited, 5*time.Second)
	time.Sleep(20 * time.Millisecond)
	if in, _ := p.State(ctx, hung.ID); in.State != provider.StateRunning {
		t.Fatalf("hung runner is %s", in.State)
	}
	if !p.Vanish(hung.ID) || p.Vanish(hung.ID) {
		t.Fatal("vanish should succeed once")
	}
	if in, _ := p.State(ctx, hung.ID); in.State != provider.StateGone {
		t.Fatalf("vanished runner is %s", in.State)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Create(cctx, req("late")); !errors.Is(err, context.Canceled) {
		t.Fatalf("create on a cancelled context: %v", err)
	}
}

// A memory runner driven by the simulator really comes online, takes a job and exits.
func TestRunsAJobOnTheSimulator(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	for name, run := range map[string]memory.RunFunc{
		"in-process": func(ctx context.Context, r memory.Runner) error {
			return env.Sim.RunRunner(ctx, r.JITConfig(), 10*time.Millisecond)
		},
		"http": memory.SimRunner(env.Srv.Client(), 10*time.Millisecond),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := memory.New(run)
			t.Cleanup(p.Close)
			rname := "mem-" + name
			_, jit, err := env.JIT(ctx, "acme/api", rname, []string{"self-hosted", "gpu-" + name})
			if err != nil {
				t.Fatal(err)
			}
			job, err := env.Sim.QueueJob(ctx, "acme/api", []string{"self-hosted", "gpu-" + name})
			if err != nil {
				t.Fatal(err)
			}
			r := req(rname)
			r.Env = map[string]string{provider.EnvJITConfig: jit}
			in, err := p.Create(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if got := agenttest.WaitState(t, p, in.ID, provider.StateExited, 5*time.Second); got.ExitCode != 0 {
				t.Fatalf("runner exited %d (%s)", got.ExitCode, got.Reason)
			}
			done, _ := env.Sim.Job(job.ID)
			if done.Status != "completed" || done.Conclusion != "success" || done.RunnerName != rname {
				t.Fatalf("job = %+v", done)
			}
		})
	}
}
