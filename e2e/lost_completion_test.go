package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/server/config"
)

// TestLostCompletionFreesTheRunner (issue 10 item 4): GitHub loses a job's completed
// delivery and the runner's instance stays up after the job (a runner that does not
// exit). The job log holds the job in_progress, so the agent keeps the runner busy and,
// at max_runners 1, the next job waits. Reconciliation looks the job up after
// github.catchup.in_progress_check, completes it, and the agent frees the slot: the next
// job runs. The documented bound is in_progress_check + reconcile_interval (plus the
// agent's next tick).
func TestLostCompletionFreesTheRunner(t *testing.T) {
	const check, interval = 10 * time.Second, 10 * time.Second
	e := newEnvWith(t, envOptions{server: func(c *config.Config) {
		c.GitHub.Catchup.InProgressCheck = check
		c.GitHub.Catchup.ReconcileInterval = interval
	}})
	e.policy(t, "small", 0, 1)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		if err := e.sim.RunRunner(ctx, r.JITConfig(), 50*time.Millisecond); err != nil {
			return err
		}
		<-ctx.Done() // the instance stays up until the agent removes it
		return nil
	})
	t.Cleanup(prov.Close)
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	startAgent(t, e, cfg, prov, app.Options{})

	e.sim.LoseJobWebhooks("completed")
	first, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the first job done at GitHub", func() bool { return e.completed([]int64{first.ID}) == 1 })
	done := time.Now()
	e.sim.LoseJobWebhooks("")
	second, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	bound := check + interval + 15*time.Second // + the agent's tick and the runner's start
	testkit.Eventually(t, bound+30*time.Second, "the second job done", func() bool { return e.completed([]int64{second.ID}) == 1 })
	took := time.Since(done)
	for _, j := range e.jobs(t) {
		if j.ID == first.ID && j.State != "completed" {
			t.Errorf("first job in the log = %s, want completed", j.State)
		}
	}
	t.Logf("figure: lost completed delivery: slot freed and next job done %s after the job ended (in_progress_check %s, reconcile_interval %s)",
		took.Round(100*time.Millisecond), check, interval)
}
