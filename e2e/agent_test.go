package e2e_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/shared/protocol"
)

// observer samples the simulator and the provider while a burst runs and remembers what
// must never happen.
type observer struct {
	mu           sync.Mutex
	maxLive      int // runner instances alive at once
	maxOnline    int // runners online at GitHub at once
	outOfOrder   []string
	samples      int
	stop, exited chan struct{}
}

func observe(e *env, prov *memory.Provider) *observer {
	o := &observer{stop: make(chan struct{}), exited: make(chan struct{})}
	sel := map[string]string{provider.LabelRepository: repo, provider.LabelPolicy: "small"}
	go func() {
		defer close(o.exited)
		for {
			live := prov.Live(sel)
			online := 0
			for _, r := range e.sim.Runners(repo) {
				if r.Status == "online" {
					online++
				}
			}
			// FIFO: a job only starts when every older job has started.
			jobs := e.sim.Jobs(repo)
			slices.SortFunc(jobs, func(a, b githubsim.Job) int { return int(a.ID - b.ID) })
			waiting := int64(0)
			for _, j := range jobs {
				switch {
				case j.Status == "queued" && waiting == 0:
					waiting = j.ID
				case j.Status != "queued" && waiting != 0:
					o.mu.Lock()
					o.outOfOrder = append(o.outOfOrder, "job "+itoa(j.ID)+" started while the older job "+itoa(waiting)+" was queued")
					o.mu.Unlock()
				}
			}
			o.mu.Lock()
			o.maxLive, o.maxOnline, o.samples = max(o.maxLive, live), max(o.maxOnline, online), o.samples+1
			o.mu.Unlock()
			select {
			case <-o.stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
		}
	}()
	return o
}

func (o *observer) finish() {
	close(o.stop)
	<-o.exited
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The acceptance test: a burst of 50 queued jobs for a policy with max_runners
// 10 never shows more than 10 runners, every job runs, in order, and the queue drains to
// zero; killing the agent mid-burst and restarting it on the same state file loses no
// job and leaves no orphan.
func TestBurstOfFiftyWithTheAgentKilledMidway(t *testing.T) {
	e := newEnv(t)
	pol := e.policy(t, "small", 0, 10)
	// Runners wait at the start line until the test has seen the queue: on a loaded machine
	// the burst could otherwise arrive slower than ten runners drain it, and nothing would
	// ever wait for capacity.
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(open)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return e.sim.RunRunner(ctx, r.JITConfig(), 400*time.Millisecond)
	})
	t.Cleanup(prov.Close)
	cfg := e.agentConfig(e.registrationToken(t))
	// A kill: no drain, no unregister; the runners stay as a crash leaves them.
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false
	first := startAgent(t, e, cfg, prov, app.Options{})

	obs := observe(e, prov)
	var ids []int64
	for range 50 {
		j, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", "small"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// The queue is visible in the portal: jobs waiting for capacity, positions from 1.
	testkit.Eventually(t, 30*time.Second, "waiting_for_capacity in the portal", func() bool {
		positions := map[int]bool{}
		for _, j := range e.jobs(t) {
			if j.AgentState == portalapi.JobWaitingForCapacity {
				positions[j.QueuePosition] = true
			}
		}
		return positions[1] && positions[2]
	})
	open()
	completed := func() int { return e.completed(ids) }
	testkit.Eventually(t, 60*time.Second, "15 jobs done", func() bool { return completed() >= 15 })
	if err := first.Stop(); err != nil {
		t.Fatalf("killed agent: %v", err)
	}
	killedAt := completed()
	t.Logf("agent killed with %d of 50 jobs done and %d runner instances alive", killedAt, prov.Live(nil))

	cfg.RegistrationToken = "" // used up: the state file is the identity now
	second := startAgent(t, e, cfg, prov, app.Options{})
	testkit.Eventually(t, 120*time.Second, "all 50 jobs", func() bool { return completed() == 50 })
	for _, id := range ids {
		if j, _ := e.sim.Job(id); j.Conclusion != "success" {
			t.Errorf("job %d: %s/%s", id, j.Status, j.Conclusion)
		}
	}
	// Nothing left behind: every runner instance removed, none labelled by Garo remains.
	// When the server learns of the jobs' progress late (its webhooks wait on a loaded
	// machine), the agent makes runners for jobs that other runners have run already, up
	// to max_runners: GitHub gives them no job, and they go as idle runners beyond min_idle
	// do, after the policy's idle_grace. The wait is that grace and the 30 s it was without
	// them (with the simulator's job webhooks held back 3 s, ten such runners were online
	// and idle 30 s after the last job; 60 runners created, which the check below allows).
	testkit.Eventually(t, pol.IdleGrace.D()+30*time.Second, "no runner instance left", func() bool {
		list, err := prov.List(t.Context(), map[string]string{provider.LabelManagedBy: provider.ManagedByGaro})
		return err == nil && len(list) == 0
	})
	// The queue drains to zero in the portal too.
	testkit.Eventually(t, 30*time.Second, "no job waiting in the portal", func() bool {
		for _, j := range e.jobs(t) {
			if j.AgentState != "" || j.State != "completed" {
				return false
			}
		}
		return true
	})
	obs.finish()
	if obs.maxLive > 10 || obs.maxOnline > 10 {
		t.Errorf("at most %d runner instances and %d online runners at once; max_runners is 10", obs.maxLive, obs.maxOnline)
	}
	if len(obs.outOfOrder) > 0 {
		t.Errorf("jobs out of order: %v", obs.outOfOrder[:min(5, len(obs.outOfOrder))])
	}
	if created := prov.Created(); created < 50 || created > 60 {
		t.Errorf("%d runners created for 50 jobs", created)
	}
	for _, r := range e.sim.Runners(repo) {
		t.Logf("registration left at GitHub: %+v", r)
	}
	t.Logf("%d samples: at most %d instances, %d online; %d runners created", obs.samples, obs.maxLive, obs.maxOnline, prov.Created())
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
}

// A policy change reaches a long-polling agent at once: the held config poll is woken.
func TestPolicyChangeReachesTheAgentAtOnce(t *testing.T) {
	e := newEnv(t)
	e.policy(t, "small", 0, 5)
	prov := memory.New(memory.Hang)
	t.Cleanup(prov.Close)
	got := make(chan protocol.Config, 16)
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Shutdown.Drain, cfg.Shutdown.Unregister = false, false // the server stops with the test
	startAgent(t, e, cfg, prov, app.Options{OnConfig: func(c protocol.Config) { got <- c }})
	// Wait for the config with the policy (the repository is the agent's after its first
	// heartbeat), then for a poll to be held.
	testkit.Eventually(t, 30*time.Second, "the policy at the agent", func() bool {
		for {
			select {
			case c := <-got:
				if len(c.Policies) == 1 {
					return true
				}
			default:
				return false
			}
		}
	})
	var worst time.Duration
	for i := 1; i <= 5; i++ {
		time.Sleep(300 * time.Millisecond) // the agent is back in a held poll
		start := time.Now()
		p2, err := e.portal.PatchPolicy(t.Context(), repo, "small", map[string]any{"min_idle": i % 2}, "")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-got:
			d := time.Since(start)
			worst = max(worst, d)
			if c.Policies[0].MinIdle != i%2 || c.Policies[0].Version != p2.Version {
				t.Errorf("config %+v after the change to version %d", c.Policies[0], p2.Version)
			}
			t.Logf("policy change %d reached the agent in %s", i, d)
		case <-time.After(5 * time.Second):
			t.Fatalf("policy change %d did not reach the agent within 5s", i)
		}
	}
	// The figure is reported, not asserted (no wall-clock thresholds in tests): see
	// BenchmarkConfigWakeup in server/api for the measurement.
	t.Logf("slowest of 5 policy changes reached the agent in %s", worst)
	// And it takes effect: min_idle 1 gives one runner.
	if _, err := e.portal.PatchPolicy(t.Context(), repo, "small", map[string]any{"min_idle": 1}, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testkit.Eventually(t, 10*time.Second, "an idle runner", func() bool { return prov.Live(nil) == 1 })
	t.Logf("min_idle 1 gave a running runner after %s", time.Since(start))
}
