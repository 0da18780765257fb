package e2e_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// labelRecorder is a memory-provider runner that notes the labels GitHub (the simulator)
// registered its runner with, then runs it.
type labelRecorder struct {
	e      *env
	mu     sync.Mutex
	labels map[string][]string // runner name → labels at GitHub
}

func (lr *labelRecorder) run(ctx context.Context, r memory.Runner) error {
	for _, gr := range lr.e.sim.Runners(repo) {
		if gr.Name == r.Name {
			lr.mu.Lock()
			lr.labels[r.Name] = gr.Labels
			lr.mu.Unlock()
		}
	}
	return lr.e.sim.RunRunner(ctx, r.JITConfig(), 50*time.Millisecond)
}

func (lr *labelRecorder) runners() map[string][]string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	out := map[string][]string{}
	for k, v := range lr.labels {
		out[k] = slices.Clone(v)
	}
	return out
}

// TestRunnerLabelsEndToEnd (issue 10, item 1): a policy with labels [linux-small] serves
// a job asking for [self-hosted, linux, linux-small], and the runner the simulator
// registered carries exactly what garo-server asked generate-jitconfig for:
// self-hosted, Linux, X64, linux-small. A job asking for [self-hosted, linux] is served
// by the same policy, as GitHub would hand it to such a runner.
func TestRunnerLabelsEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.policy(t, "linux-small", 0, 2)
	lr := &labelRecorder{e: e, labels: map[string][]string{}}
	prov := memory.New(lr.run)
	t.Cleanup(prov.Close)
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	startAgent(t, e, cfg, prov, app.Options{})

	want := []string{"self-hosted", "Linux", "X64", "linux-small"}
	for _, runsOn := range [][]string{{"self-hosted", "linux", "linux-small"}, {"self-hosted", "linux"}} {
		job, err := e.sim.QueueJob(t.Context(), repo, runsOn)
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 60*time.Second, "the job done", func() bool { return e.completed([]int64{job.ID}) == 1 })
		done, _ := e.sim.Job(job.ID)
		if done.Conclusion != "success" || done.RunnerName == "" {
			t.Fatalf("job %v: %+v, want success on a runner", runsOn, done)
		}
		got, ok := lr.runners()[done.RunnerName]
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("runner %s of job %v carried %v at GitHub, want exactly %v", done.RunnerName, runsOn, got, want)
		}
	}
}

// TestApprovalGetsOneRunnerAfterApproval (issue 10, item 2): a job held by an environment
// gets no runner while it waits; once approved it gets exactly one, and a late waiting
// delivery neither moves it back nor brings a second runner.
func TestApprovalGetsOneRunnerAfterApproval(t *testing.T) {
	e := newEnv(t)
	e.policy(t, "small", 0, 3)
	lr := &labelRecorder{e: e, labels: map[string][]string{}}
	prov := memory.New(lr.run)
	t.Cleanup(prov.Close)
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	startAgent(t, e, cfg, prov, app.Options{})

	job, err := e.sim.QueueJobForEnvironment(t.Context(), repo, []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the job waiting in the log", func() bool {
		for _, j := range e.jobs(t) {
			if j.ID == job.ID {
				return j.State == portalapi.JobWaiting
			}
		}
		return false
	})
	// The agent sees the waiting job in its next jobs snapshot; give it a few scheduler
	// ticks to (wrongly) start a runner: it must not.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if n := len(lr.runners()); n != 0 {
			t.Fatalf("%d runners started for a job waiting for approval", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.sim.ApproveJob(t.Context(), job.ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the approved job in progress or done", func() bool {
		j, _ := e.sim.Job(job.ID)
		return j.Status == "in_progress" || j.Status == "completed"
	})
	if err := e.sim.SendLateWaiting(t.Context(), job.ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the job done", func() bool { return e.completed([]int64{job.ID}) == 1 })
	testkit.Eventually(t, 30*time.Second, "the job completed in the log", func() bool {
		for _, j := range e.jobs(t) {
			if j.ID == job.ID {
				return j.State == portalapi.JobCompleted
			}
		}
		return false
	})
	// A little longer: a second runner would show up within a few ticks.
	time.Sleep(time.Second)
	if n := len(lr.runners()); n != 1 {
		t.Fatalf("%d runners for the approved job, want exactly 1: %v", n, lr.runners())
	}
}
