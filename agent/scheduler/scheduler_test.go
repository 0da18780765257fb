package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

type rig struct {
	env  *simtest.Env
	srv  *agenttest.Server
	prov *memory.Provider
	cfg  protocol.Config
}

func newRig(t *testing.T, simOpts githubsim.Options, pol protocol.Policy, work time.Duration) *rig {
	t.Helper()
	env := simtest.New(t, simOpts, repo)
	prov := memory.New(func(ctx context.Context, r memory.Runner) error {
		return env.Sim.RunRunner(ctx, r.JITConfig(), work)
	})
	t.Cleanup(prov.Close)
	return &rig{env: env, srv: &agenttest.Server{Env: env}, prov: prov, cfg: *config(pol)}
}

func (r *rig) scheduler(opts scheduler.Options) *scheduler.Scheduler {
	opts.AgentID, opts.Provider, opts.Server = agentID, r.prov, r.srv
	s := scheduler.New(opts)
	s.SetConfig(r.cfg)
	return s
}

func (r *rig) queue(t *testing.T, n int, pol string) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		j, err := r.env.Sim.QueueJob(t.Context(), repo, []string{"self-hosted", pol})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// step refreshes the jobs, ticks, waits for the actions and checks the invariant.
func (r *rig) step(t *testing.T, s *scheduler.Scheduler, maxRunners int) {
	t.Helper()
	s.SetJobs(agenttest.Jobs(r.env.Sim, repo))
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	sel := map[string]string{provider.LabelPolicy: "small"}
	if live := r.prov.Live(sel); live > maxRunners {
		t.Fatalf("%d live runners, max %d", live, maxRunners)
	}
	if n := len(r.env.Sim.Runners(repo)); n > maxRunners {
		t.Fatalf("%d runners registered at GitHub, max %d", n, maxRunners)
	}
}

func (r *rig) until(t *testing.T, s *scheduler.Scheduler, maxRunners int, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; records %+v", what, s.Records())
		}
		r.step(t, s, maxRunners)
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *rig) allDone(ids []int64) func() bool {
	return func() bool {
		for _, id := range ids {
			if j, _ := r.env.Sim.Job(id); j.Status != "completed" {
				return false
			}
		}
		return true
	}
}

func (r *rig) checkDoneInOrder(t *testing.T, ids []int64) {
	t.Helper()
	var got []githubsim.Job
	for _, id := range ids {
		j, _ := r.env.Sim.Job(id)
		if j.Conclusion != "success" {
			t.Errorf("job %d: %s/%s", id, j.Status, j.Conclusion)
		}
		got = append(got, j)
	}
	slices.SortStableFunc(got, func(a, b githubsim.Job) int { return a.StartedAt.Compare(b.StartedAt) })
	for i := 1; i < len(got); i++ {
		if got[i].ID < got[i-1].ID {
			t.Errorf("job %d started before the older job %d", got[i-1].ID, got[i].ID)
		}
	}
}

func (r *rig) checkNothingLeft(t *testing.T, s *scheduler.Scheduler) {
	t.Helper()
	if list, _ := r.prov.List(t.Context(), nil); len(list) != 0 {
		t.Errorf("instances left behind: %+v", list)
	}
	if recs := s.Records(); len(recs) != 0 {
		t.Errorf("records left: %+v", recs)
	}
	if runners := r.env.Sim.Runners(repo); len(runners) != 0 {
		t.Errorf("runners left at GitHub: %+v", runners)
	}
}

func TestBurstRunsEveryJobInOrderWithinMax(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(t0)
	clock.Step(time.Second) // the simulator's started_at times order the jobs as handed out
	r := newRig(t, githubsim.Options{Now: clock.Now}, policy("small", 0, 5), 5*time.Millisecond)
	s := r.scheduler(scheduler.Options{})
	ids := r.queue(t, 30, "small")
	r.step(t, s, 5)
	hb := s.Heartbeat()
	var waitingJobs []int64
	for _, j := range hb.Jobs {
		if j.State == protocol.JobWaitingForCapacity {
			waitingJobs = append(waitingJobs, j.JobID)
			if j.Position != len(waitingJobs) {
				t.Errorf("job %d at position %d, want %d", j.JobID, j.Position, len(waitingJobs))
			}
		}
	}
	equal(t, "waiting after the first tick", waitingJobs, ids[5:])
	r.until(t, s, 5, "every job", r.allDone(ids))
	r.until(t, s, 5, "the last runners to go", func() bool { return len(s.Records()) == 0 })
	r.checkDoneInOrder(t, ids)
	r.checkNothingLeft(t, s)
	if got := r.prov.Created(); got != len(ids) {
		t.Errorf("%d runners created for %d jobs", got, len(ids))
	}
	if got := r.prov.Peak(repo, "small"); got > 5 || got < 2 {
		t.Errorf("peak %d runners, want 2 to 5 (max)", got)
	}
	if hb := s.Heartbeat(); len(hb.Jobs) != 0 || len(hb.Runners) != 0 {
		t.Errorf("heartbeat after the burst: %+v", hb)
	}
}

// A restarted agent (a new Scheduler on the same provider) adopts the runners from
// their labels: no duplicate, no job lost, nothing left behind.
func TestRestartMidBurst(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(t0)
	clock.Step(time.Second) // the simulator's started_at times order the jobs as handed out
	r := newRig(t, githubsim.Options{Now: clock.Now}, policy("small", 0, 4), 20*time.Millisecond)
	s1 := r.scheduler(scheduler.Options{})
	ids := r.queue(t, 16, "small")
	r.until(t, s1, 4, "some jobs done", func() bool {
		done := 0
		for _, id := range ids {
			if j, _ := r.env.Sim.Job(id); j.Status == "completed" {
				done++
			}
		}
		return done >= 5 && r.prov.Live(nil) > 0
	})
	s2 := r.scheduler(scheduler.Options{}) // s1 is dropped without any goodbye
	r.step(t, s2, 4)
	if len(s2.Records()) == 0 {
		t.Fatal("the new scheduler adopted nothing")
	}
	r.until(t, s2, 4, "every job", r.allDone(ids))
	r.until(t, s2, 4, "the last runners to go", func() bool { return len(s2.Records()) == 0 })
	r.checkDoneInOrder(t, ids)
	r.checkNothingLeft(t, s2)
	if got := r.prov.Created(); got != len(ids) {
		t.Errorf("%d runners created for %d jobs: duplicates after the restart", got, len(ids))
	}
}

func TestHungAndVanishedRunnersAreReplaced(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(t0)
	r := newRig(t, githubsim.Options{Now: clock.Now}, policy("small", 0, 1), time.Millisecond)
	s := r.scheduler(scheduler.Options{Now: clock.Now})
	r.prov.HangNext(1)
	ids := r.queue(t, 1, "small")
	r.step(t, s, 1)
	recs := s.Records()
	if len(recs) != 1 || recs[0].State != protocol.RunnerBooting {
		t.Fatalf("records %+v", recs)
	}
	hung := recs[0]
	r.step(t, s, 1)
	if j, _ := r.env.Sim.Job(ids[0]); j.Status != "queued" {
		t.Fatalf("the hung runner took the job: %+v", j)
	}
	clock.Advance(3 * time.Minute) // the bootstrap timeout
	r.step(t, s, 1)                // hung one removed from GitHub and deleted
	if in, _ := r.prov.State(t.Context(), hung.ProviderID); in.State != provider.StateGone {
		t.Fatalf("hung runner is %s", in.State)
	}
	// It failed before taking a job: the policy backs off before the replacement, and
	// the job says so.
	r.step(t, s, 1)
	jobBackingOff(t, s, ids[0], "not online within the bootstrap timeout")
	if r.prov.Created() != 1 {
		t.Fatalf("created %d runners during the back-off", r.prov.Created())
	}
	clock.Advance(scheduler.DefaultCrashBackoffBase)
	r.until(t, s, 1, "the job on a new runner", r.allDone(ids))
	if r.prov.Created() != 2 {
		t.Errorf("created %d runners, want 2", r.prov.Created())
	}

	// A runner that vanishes behind the agent's back is replaced for its job.
	r.until(t, s, 1, "the first runner to go", func() bool { return len(s.Records()) == 0 })
	r.prov.HangNext(1)
	ids = r.queue(t, 1, "small")
	r.until(t, s, 1, "a runner for the second job", func() bool {
		recs := s.Records()
		return len(recs) == 1 && recs[0].ProviderID != ""
	})
	if !r.prov.Vanish(s.Records()[0].ProviderID) {
		t.Fatal("nothing to vanish")
	}
	r.step(t, s, 1)
	// The runner before took its job, so this is the policy's first failure again.
	jobBackingOff(t, s, ids[0], "the instance disappeared")
	clock.Advance(scheduler.DefaultCrashBackoffBase)
	r.until(t, s, 1, "the second job", r.allDone(ids))
	r.until(t, s, 1, "no runner left", func() bool { return len(s.Records()) == 0 })
	r.checkNothingLeft(t, s)
}

// jobBackingOff checks that the last heartbeat reports job id backing off, for a reason
// that contains why, until a time within the first back-off step.
func jobBackingOff(t *testing.T, s *scheduler.Scheduler, id int64, why string) {
	t.Helper()
	for _, j := range s.Heartbeat().Jobs {
		if j.JobID != id {
			continue
		}
		if j.State != protocol.JobBackingOff || !strings.Contains(j.Reason, why) || j.RetryAt == nil {
			t.Fatalf("job %d reported %+v, want backing_off because %q with a retry time", id, j, why)
		}
		return
	}
	t.Fatalf("job %d not in the heartbeat %+v", id, s.Heartbeat().Jobs)
}

// A runner that GitHub says is busy is kept even when the agent's view of the jobs is
// stale and says it is idle beyond min_idle.
func TestBusyRunnerIsNeverReaped(t *testing.T) {
	t.Parallel()
	pol := policy("small", 0, 2)
	pol.IdleGrace = 0
	r := newRig(t, githubsim.Options{}, pol, 300*time.Millisecond)
	s := r.scheduler(scheduler.Options{RefusedRetry: time.Millisecond})
	ids := r.queue(t, 1, "small")
	r.step(t, s, 2)
	deadline := time.Now().Add(10 * time.Second)
	for j, _ := r.env.Sim.Job(ids[0]); j.Status != "in_progress"; j, _ = r.env.Sim.Job(ids[0]) {
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
		time.Sleep(time.Millisecond)
	}
	// The webhooks got lost: as far as the agent knows the job is gone and its runner,
	// which never took a job, is idle beyond min_idle.
	s.SetJobs(protocol.JobsSnapshot{})
	for range 5 {
		if err := s.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.Wait()
		time.Sleep(2 * time.Millisecond)
	}
	if r.srv.Refused.Load() == 0 {
		t.Fatal("the scheduler never tried to reap the runner it thought idle")
	}
	r.until(t, s, 2, "the job", r.allDone(ids))
	if j, _ := r.env.Sim.Job(ids[0]); j.Conclusion != "success" {
		t.Fatalf("job %+v: the busy runner was killed", j)
	}
}

// During an outage nothing is created without credentials, runners that finish are
// still reaped, and provisioning resumes when the server is back.
func TestServerOutage(t *testing.T) {
	t.Parallel()
	r := newRig(t, githubsim.Options{}, policy("small", 0, 3), 100*time.Millisecond)
	s := r.scheduler(scheduler.Options{})
	first := r.queue(t, 2, "small")
	r.until(t, s, 3, "two runners", func() bool { return r.prov.Created() == 2 })
	outage := errors.New("connection refused")
	r.srv.Down.Store(&outage)
	more := r.queue(t, 2, "small")
	r.until(t, s, 3, "the first jobs to finish and their runners to go", func() bool {
		list, _ := r.prov.List(t.Context(), nil)
		return r.allDone(first)() && len(list) == 0
	})
	if r.prov.Created() != 2 {
		t.Fatalf("%d runners created during the outage", r.prov.Created()-2)
	}
	for _, id := range more {
		if j, _ := r.env.Sim.Job(id); j.Status != "queued" {
			t.Fatalf("job %d is %s during the outage", id, j.Status)
		}
	}
	r.srv.Down.Store(nil)
	// Creations are held back for a backoff delay after the failures.
	r.until(t, s, 3, "the other jobs after the outage", r.allDone(more))
	r.until(t, s, 3, "no runner left", func() bool { return len(s.Records()) == 0 })
	r.checkNothingLeft(t, s)
}

func TestUnauthorizedStopsProvisioning(t *testing.T) {
	t.Parallel()
	r := newRig(t, githubsim.Options{}, policy("small", 0, 3), time.Millisecond)
	revoked := fmt.Errorf("runner credentials: %w", protocol.ErrUnauthorized)
	r.srv.Down.Store(&revoked)
	s := r.scheduler(scheduler.Options{})
	r.queue(t, 2, "small")
	s.SetJobs(agenttest.Jobs(r.env.Sim, repo))
	if err := s.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if err := s.Tick(t.Context()); !errors.Is(err, protocol.ErrUnauthorized) {
		t.Fatalf("tick after a 401: %v", err)
	}
	if err := s.Run(t.Context()); !errors.Is(err, protocol.ErrUnauthorized) {
		t.Fatalf("run after a 401: %v", err)
	}
	if r.prov.Created() != 0 {
		t.Fatal("a runner was created without credentials")
	}
}

func TestRandomName(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, pol := range []string{"linux-small", "GPU_Large.x", "", "---", "a-very-long-policy-name-that-goes-on-and-on"} {
		n := scheduler.RandomName(scheduler.Key{Repository: repo, Policy: pol})
		if len(n) > 45 || seen[n] {
			t.Errorf("name %q", n)
		}
		seen[n] = true
		for _, c := range n {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				t.Errorf("name %q has %q", n, c)
			}
		}
	}
}
