package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// TestDockerScenarios runs the scenarios on a real Docker engine with the server
// on PostgreSQL, each with its own server, simulator, policy and agent, in parallel (each
// counts only its own agent's containers). After each, the agent's containers are all
// gone and the simulator holds no runner of the repository.
func TestDockerScenarios(t *testing.T) {
	cli := dockerEngine(t)
	// Idle runners wait for a job until they are stopped, as the real runner does
	// (GARO_STUB_ACQUIRE_WAIT=0); a job's work takes 300ms.
	ref := dockertest.StubImage(t, cli, "ENV GARO_STUB_WORK=300ms", "ENV GARO_STUB_ACQUIRE_WAIT=0")
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *dockerclient.Client, string)
	}{
		{"min_idle kept", minIdleKept},
		{"idle grace respected", idleGraceRespected},
		{"agent killed with SIGKILL", agentKilled},
		{"container removed behind the agent's back", containerRemoved},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			sc.run(t, cli, ref)
			t.Logf("scenario %q took %s", sc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// idleRunners returns the runner names of the agent's containers (sel), sorted, when each
// of them runs and its runner is online and idle at GitHub, and GitHub holds no other
// runner of the repository; ok is false otherwise.
func idleRunners(ctx context.Context, cli *dockerclient.Client, e *env, sel filters.Args) (names []string, ok bool) {
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
	if err != nil {
		return nil, false
	}
	runners := e.sim.Runners(repo)
	idle := map[string]bool{}
	for _, r := range runners {
		if r.Status == "online" && !r.Busy {
			idle[r.Name] = true
		}
	}
	for _, c := range list {
		name := c.Labels[provider.LabelRunner]
		if c.State != "running" || !idle[name] {
			return nil, false
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, len(runners) == len(names)
}

// checkGrace asserts the lower bound of idle_grace on a runner that was idle (or surplus)
// from the moment its container started: its removal from GitHub reached the simulator,
// and its container died, no sooner than idle_grace after the engine started it. The
// bound is on logic, not on speed; the figures are logged.
func checkGrace(t *testing.T, smp *containerSampler, tap *simTap, runner string, grace time.Duration, from time.Time, fromWhat string) {
	t.Helper()
	sc, ok := smp.container(runner)
	if !ok || sc.started.IsZero() || sc.runnerID == "" {
		t.Errorf("runner %s: no running container seen (%+v)", runner, sc)
		return
	}
	deleted := tap.firstArrival(http.MethodDelete, runnerDeletion(sc.runnerID))
	switch {
	case deleted.IsZero():
		t.Errorf("runner %s (id %s) was never removed from GitHub", runner, sc.runnerID)
	case deleted.Sub(sc.started) < grace:
		t.Errorf("runner %s removed from GitHub %s after its container started; idle_grace is %s", runner, deleted.Sub(sc.started), grace)
	}
	switch {
	case sc.died.IsZero():
		t.Errorf("runner %s: the engine reported no death of its container", runner)
	case sc.died.Sub(sc.started) < grace:
		t.Errorf("runner %s: its container died %s after it started; idle_grace is %s", runner, sc.died.Sub(sc.started), grace)
	}
	t.Logf("runner %s: container started → removed from GitHub %s, → container dead %s (idle_grace %s; %s → removed from GitHub %s)",
		runner, deleted.Sub(sc.started).Round(time.Millisecond), sc.died.Sub(sc.started).Round(time.Millisecond), grace,
		fromWhat, deleted.Sub(from).Round(time.Millisecond))
}

// min_idle 2 keeps two idle runners: running containers whose runners are online at
// GitHub. A job takes one of them (ephemeral: it goes with its job) and the agent makes
// another; once min_idle is 0, the idle ones go after idle_grace.
func minIdleKept(t *testing.T, cli *dockerclient.Client, ref string) {
	tap := newSimTap(nil)
	e := newEnvWith(t, envOptions{database: testdb.Postgres(t), simHandler: tap.wrap})
	const policy, grace = "min-idle", 3 * time.Second
	dockerPolicy(t, e, policy, ref, 2, 3, grace)
	started := time.Now()
	_, _, sel := dockerAgent(t, e, cli)
	smp := sampleContainers(cli, sel)
	t.Cleanup(sync.OnceFunc(smp.finish))

	var first []string
	testkit.Eventually(t, 60*time.Second, "two idle runners", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		first = names
		return ok && len(names) == 2
	})
	t.Logf("two idle runners online %s after the agent started", time.Since(started).Round(time.Millisecond))

	queued := time.Now()
	job, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", policy})
	if err != nil {
		t.Fatal(err)
	}
	var taken time.Duration // when the test first saw the job taken (sampled every 20ms)
	testkit.Eventually(t, 60*time.Second, "the job done", func() bool {
		j, _ := e.sim.Job(job.ID)
		if j.Status != "queued" && taken == 0 {
			taken = time.Since(queued)
		}
		return j.Status == "completed"
	})
	done := time.Now()
	j, _ := e.sim.Job(job.ID)
	if j.Conclusion != "success" || !slices.Contains(first, j.RunnerName) {
		t.Fatalf("job %d: %s on %q; want success on one of the idle runners %v", job.ID, j.Conclusion, j.RunnerName, first)
	}
	var second []string
	testkit.Eventually(t, 60*time.Second, "two idle runners again", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		second = names
		return ok && len(names) == 2 && !slices.Contains(names, j.RunnerName)
	})
	t.Logf("job queued → taken by idle runner %s in %s, → done in %s; two idle runners again %s later: %v",
		j.RunnerName, taken.Round(time.Millisecond), done.Sub(queued).Round(time.Millisecond), time.Since(done).Round(time.Millisecond), second)
	// Two for min_idle and one to replace the runner the job took; one spare more when
	// the runner finished before the agent's jobs snapshot showed its job taken (the
	// snapshot lags the webhooks: see the SIGKILL scenario), which idle_grace reaps,
	// longest idle first: then the kept runner may be the one that goes.
	kept := slices.DeleteFunc(slices.Clone(first), func(n string) bool { return n == j.RunnerName })
	switch n := len(smp.containersByRunner()); {
	case n == 4:
		t.Logf("a spare runner from a lagging jobs snapshot")
	case n != 3:
		t.Errorf("%d containers made for min_idle 2 and one job; want 3 (or 4 with a spare)", n)
	case !slices.Contains(second, kept[0]):
		t.Errorf("idle runner %s went while min_idle was 2 (idle now: %v)", kept[0], second)
	}

	patched := time.Now()
	if _, err := e.portal.PatchPolicy(t.Context(), repo, policy, map[string]any{"min_idle": 0}, ""); err != nil {
		t.Fatal(err)
	}
	nothingLeft(t, cli, e, sel, 60*time.Second)
	t.Logf("min_idle 0 → nothing left after %s", time.Since(patched).Round(time.Millisecond))
	for _, name := range second {
		checkGrace(t, smp, tap, name, grace, patched, "min_idle 0")
	}
}

// A runner made for a job that is cancelled before the runner exists is surplus from its
// first moment: it stays idle for idle_grace, no less, and is then removed.
func idleGraceRespected(t *testing.T, cli *dockerclient.Client, ref string) {
	// The runner's JIT config is held at GitHub until the job is cancelled.
	tap := newSimTap(func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions/runners/generate-jitconfig")
	})
	e := newEnvWith(t, envOptions{database: testdb.Postgres(t), simHandler: tap.wrap})
	t.Cleanup(tap.release)
	const policy, grace = "idle-grace", 4 * time.Second
	dockerPolicy(t, e, policy, ref, 0, 2, grace)
	_, _, sel := dockerAgent(t, e, cli)
	smp := sampleContainers(cli, sel)
	t.Cleanup(sync.OnceFunc(smp.finish))

	job, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", policy})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the agent minting a runner for the job", func() bool { return tap.holding() == 1 })
	if _, err := e.sim.CancelJob(t.Context(), job.ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the job cancelled in the portal", func() bool {
		for _, j := range e.jobs(t) {
			if j.ID == job.ID {
				return j.State == "completed"
			}
		}
		return false
	})
	tap.release()
	var runner string
	testkit.Eventually(t, 60*time.Second, "the surplus runner idle", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		if ok && len(names) == 1 {
			runner = names[0]
		}
		return runner != ""
	})
	idle := time.Now()
	nothingLeft(t, cli, e, sel, 60*time.Second)
	if n := len(smp.containersByRunner()); n != 1 {
		t.Errorf("%d containers for one cancelled job; want 1", n)
	}
	checkGrace(t, smp, tap, runner, grace, idle, "seen idle")
}

// A runner container removed behind the agent's back (docker rm -f) is noticed: its
// runner is removed from GitHub and a new idle runner takes its place.
func containerRemoved(t *testing.T, cli *dockerclient.Client, ref string) {
	tap := newSimTap(nil)
	e := newEnvWith(t, envOptions{database: testdb.Postgres(t), simHandler: tap.wrap})
	const policy, grace = "removed", 3 * time.Second
	dockerPolicy(t, e, policy, ref, 1, 2, grace)
	_, _, sel := dockerAgent(t, e, cli)
	smp := sampleContainers(cli, sel)
	t.Cleanup(sync.OnceFunc(smp.finish))

	var old string
	testkit.Eventually(t, 60*time.Second, "an idle runner", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		if ok && len(names) == 1 {
			old = names[0]
		}
		return old != ""
	})
	list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sel})
	if err != nil || len(list) != 1 {
		t.Fatalf("containers: %d, %v; want the idle runner's", len(list), err)
	}
	oldID := list[0].Labels[provider.LabelRunnerID]
	removed := time.Now()
	if err := cli.ContainerRemove(t.Context(), list[0].ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	var replacement string
	testkit.Eventually(t, 60*time.Second, "a new idle runner in place of the removed one", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		if ok && len(names) == 1 && names[0] != old {
			replacement = names[0]
		}
		return replacement != ""
	})
	// idleRunners saw GitHub hold the new runner only: the old one was removed there.
	deleted := tap.firstArrival(http.MethodDelete, runnerDeletion(oldID))
	if deleted.IsZero() {
		t.Errorf("the removed container's runner %s (id %s) was never removed from GitHub by its id", old, oldID)
	}
	t.Logf("docker rm -f of idle runner %s → removed from GitHub after %s; new idle runner %s online after %s",
		old, deleted.Sub(removed).Round(time.Millisecond), replacement, time.Since(removed).Round(time.Millisecond))
	if n := len(smp.containersByRunner()); n != 2 {
		t.Errorf("%d containers; want 2, the removed one and its replacement", n)
	}

	if _, err := e.portal.PatchPolicy(t.Context(), repo, policy, map[string]any{"min_idle": 0}, ""); err != nil {
		t.Fatal(err)
	}
	nothingLeft(t, cli, e, sel, 60*time.Second)
}
