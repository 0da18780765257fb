package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/internal/testkit"
)

// TestServerRestartUnderLoad stops garo-server in the middle of a burst and starts it
// again on the same database. While it is down, runners keep working and GitHub's
// deliveries of new jobs fail; afterwards the catch-up loops recover those jobs, the agent
// comes back on its own, and every job runs with never more runners than max_runners and
// nothing left behind.
func TestServerRestartUnderLoad(t *testing.T) {
	e := newEnv(t)
	e.policy(t, "small", 0, 5)
	// Runners made for jobs whose progress the outage hid end up idle: reap them soon.
	if _, err := e.portal.PatchPolicy(t.Context(), repo, "small", map[string]any{"idle_grace": "5s"}, ""); err != nil {
		t.Fatal(err)
	}
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return e.sim.RunRunner(ctx, r.JITConfig(), 300*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	cfg := e.agentConfig(e.registrationToken(t))
	startAgent(t, e, cfg, prov, app.Options{})
	obs := observe(e, prov)

	var ids []int64
	queue := func(n int) {
		for range n {
			j, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
	}
	completed := func() int { return e.completed(ids) }
	queue(20)
	testkit.Eventually(t, 60*time.Second, "5 jobs done", func() bool { return completed() >= 5 })

	e.stopServer(t)
	down := time.Now()
	queue(10) // delivered to a server that is not there: GitHub records failures
	failed := 0
	for _, d := range e.sim.Deliveries() {
		if d.StatusCode < 200 || d.StatusCode >= 300 {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no delivery failed while the server was down")
	}
	time.Sleep(time.Second) // runners keep working through the outage
	atRestart := completed()
	e.startServer(t)
	t.Logf("server down for %s: %d deliveries failed, %d of %d jobs done at restart", time.Since(down).Round(time.Millisecond), failed, atRestart, len(ids))

	testkit.Eventually(t, 120*time.Second, "all 30 jobs", func() bool { return completed() == len(ids) })
	for _, id := range ids {
		if j, _ := e.sim.Job(id); j.Conclusion != "success" {
			t.Errorf("job %d: %s/%s", id, j.Status, j.Conclusion)
		}
	}
	testkit.Eventually(t, 60*time.Second, "no runner instance left", func() bool {
		list, err := prov.List(t.Context(), map[string]string{provider.LabelManagedBy: provider.ManagedByGaro})
		return err == nil && len(list) == 0
	})
	t.Logf("%d runners created for %d jobs", prov.Created(), len(ids))
	testkit.Eventually(t, 30*time.Second, "every job completed in the log", func() bool {
		jobs := e.jobs(t)
		if len(jobs) != len(ids) {
			return false
		}
		for _, j := range jobs {
			if j.State != "completed" {
				return false
			}
		}
		return true
	})
	obs.finish()
	if obs.maxLive > 5 || obs.maxOnline > 5 {
		t.Errorf("at most %d runner instances and %d online runners at once; max_runners is 5", obs.maxLive, obs.maxOnline)
	}
}
