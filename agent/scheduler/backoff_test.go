package scheduler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/provider/memory"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/agenttest"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
)

// A policy whose runners always exit 1 before taking a job backs off: over two minutes
// of the scheduler's clock, ticking every 250 ms with two jobs queued and room for two
// runners, it mints at most 8 runner credentials (the bound), one runner at a
// time after the first failure, with the jobs reported backing_off and one log line per
// change. A runner that takes a job ends the back-off.
func TestCrashLoopBacksOff(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(t0)
	env := simtest.New(t, githubsim.Options{Now: clock.Now}, repo)
	var failing atomic.Bool
	failing.Store(true)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		if failing.Load() {
			return memory.ExitError{Code: 1}
		}
		return env.Sim.RunRunner(ctx, r.JITConfig(), time.Millisecond)
	}, memory.WithClock(clock.Now))
	t.Cleanup(prov.Close)
	r := &rig{env: env, srv: &agenttest.Server{Env: env}, prov: prov, cfg: *config(policy("small", 0, 2))}
	log, logs := testkit.TextLogs()
	s := r.scheduler(scheduler.Options{Now: clock.Now, Log: log})
	ids := r.queue(t, 2, "small")
	k := scheduler.Key{Repository: repo, Policy: "small"}

	const step, window = 250 * time.Millisecond, 2 * time.Minute
	sawHeld := false
	for elapsed := time.Duration(0); elapsed < window; elapsed += step {
		r.step(t, s, 2)
		exited(t, prov)
		if h, ok := s.Holds()[k]; ok && h.Until.After(clock.Now()) {
			for _, j := range s.Heartbeat().Jobs {
				if j.State != protocol.JobBackingOff || j.RetryAt == nil || !j.RetryAt.Equal(h.Until) ||
					!strings.Contains(j.Reason, "exited with code 1 before taking a job") {
					t.Fatalf("at +%s, held until %s: job reported %+v", elapsed, h.Until, j)
				}
			}
			sawHeld = true
		}
		clock.Advance(step)
	}
	minted := r.srv.Creds.Load()
	t.Logf("crash loop, fake clock: %d runner credentials minted in %s (bound 8)", minted, window)
	if minted > 8 || minted < 4 {
		t.Errorf("%d runner credentials minted in %s; want 4 to 8: backing off, yet trying", minted, window)
	}
	if !sawHeld {
		t.Error("the policy was never held back")
	}
	if n := strings.Count(logs.String(), "policy backing off"); n < 3 || n > int(minted) {
		t.Errorf("%d back-off log lines for %d runners: want one per change, not one per tick", n, minted)
	}

	// The image is fixed: once the hold is over, the next runner takes a job and the
	// back-off ends; both jobs run.
	failing.Store(false)
	clock.Advance(scheduler.DefaultCrashBackoffCap)
	r.until(t, s, 2, "both jobs", r.allDone(ids))
	if h, ok := s.Holds()[k]; ok {
		t.Errorf("still held after a runner took a job: %+v", h)
	}
	if strings.Count(logs.String(), "policy back-off over") != 1 {
		t.Errorf("the end of the back-off was logged %d times", strings.Count(logs.String(), "policy back-off over"))
	}
}

// exited waits until none of the provider's instances runs: each runner of the test
// exits at once, in a goroutine of the memory provider.
func exited(t *testing.T, prov *memory.Provider) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := prov.List(t.Context(), nil)
		running := 0
		for _, in := range list {
			if in.State == provider.StateRunning || in.State == provider.StateCreated {
				running++
			}
		}
		if err == nil && running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances still running: %+v", list)
		}
		time.Sleep(time.Millisecond)
	}
}
