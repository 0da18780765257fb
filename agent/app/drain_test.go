package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
)

// TestServerDrainStopsTakingJobs: a heartbeat answered drain=true makes the agent report
// draining, let its busy runner finish its job, remove its idle runner and create none for
// a job queued meanwhile; once the answers stop saying drain, it serves that job.
func TestServerDrainStopsTakingJobs(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	pol := smallPolicy(3)
	pol.MinIdle = 1
	fs := newFakeServer(t, env, regToken, pol)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return env.Sim.RunRunner(ctx, r.JITConfig(), 3*time.Second)
	})
	t.Cleanup(prov.Close)
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	start(t, cfg, prov)

	last := func() protocol.HeartbeatRequest {
		hbs, _, _, _ := fs.snapshot()
		if len(hbs) == 0 {
			return protocol.HeartbeatRequest{}
		}
		return hbs[len(hbs)-1]
	}
	count := func(hb protocol.HeartbeatRequest, state protocol.RunnerState) int {
		n := 0
		for _, r := range hb.Runners {
			if r.State == state {
				n++
			}
		}
		return n
	}
	first, err := env.Sim.QueueJob(t.Context(), "acme/api", []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, "a busy runner and a warm idle one", func() bool {
		hb := last()
		return count(hb, protocol.RunnerBusy) == 1 && count(hb, protocol.RunnerIdle) == 1
	})
	fs.setDrain(true)
	testkit.Eventually(t, patience, "the agent reports draining and its idle runner gone", func() bool {
		hb := last()
		return hb.State == protocol.AgentDraining && count(hb, protocol.RunnerIdle) == 0 && prov.Live(nil) == 1
	})
	_, _, _, credsAtDrain := fs.snapshot()
	second, err := env.Sim.QueueJob(t.Context(), "acme/api", []string{"self-hosted", "small"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, patience, "the busy runner's job done", func() bool {
		j, _ := env.Sim.Job(first.ID)
		return j.Status == "completed"
	})
	if j, _ := env.Sim.Job(first.ID); j.Conclusion != "success" {
		t.Fatalf("the job of the busy runner ended %q: draining must let it finish", j.Conclusion)
	}
	// Ten more heartbeats (the agent ticks twice as slow as it beats) after the busy
	// runner ended: the agent still knows the second job and creates nothing for it.
	hbs, _, _, _ := fs.snapshot()
	mark := len(hbs)
	testkit.Eventually(t, patience, "ten heartbeats with nothing running", func() bool {
		hbs, _, _, _ := fs.snapshot()
		return len(hbs) >= mark+10 && len(last().Runners) == 0
	})
	if j, _ := env.Sim.Job(second.ID); j.Status != "queued" {
		t.Fatalf("job queued while draining is %s, want queued", j.Status)
	}
	if _, _, _, creds := fs.snapshot(); creds != credsAtDrain || prov.Live(nil) != 0 {
		t.Fatalf("draining agent asked for %d runner credentials and runs %d runners, want none", creds-credsAtDrain, prov.Live(nil))
	}
	hb := last()
	if hb.State != protocol.AgentDraining || len(hb.Jobs) == 0 {
		t.Fatalf("heartbeat while draining = %+v, want state draining and the waiting job", hb)
	}

	fs.setDrain(false)
	testkit.Eventually(t, patience, "the queued job served after the drain is lifted", func() bool {
		j, _ := env.Sim.Job(second.ID)
		return j.Conclusion == "success"
	})
	if hb := last(); hb.State != protocol.AgentActive {
		t.Errorf("state after the drain is lifted = %s, want active", hb.State)
	}
}
