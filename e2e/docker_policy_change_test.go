package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

// A changed runner definition (here the runner's env and volumes, through the portal) replaces the
// idle runners at once, within max_runners: the new ones carry the new definition, and
// the next job runs on one of them.
func TestDockerPolicyChangeReplacesIdleRunners(t *testing.T) {
	cli := dockerEngine(t)
	ref := dockertest.StubImage(t, cli, "ENV GARO_STUB_WORK=300ms", "ENV GARO_STUB_ACQUIRE_WAIT=0")
	e := newEnvWith(t, envOptions{database: testdb.Postgres(t)})
	const policy, maxRunners = "changed", 3
	dockerPolicy(t, e, policy, ref, 2, maxRunners, time.Minute)
	_, _, sel := dockerAgent(t, e, cli)
	smp := sampleContainers(cli, sel)
	t.Cleanup(sync.OnceFunc(smp.finish))

	var before []string
	testkit.Eventually(t, 60*time.Second, "two idle runners", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		before = names
		return ok && len(names) == 2
	})
	// The new definition: another env, and a named volume (a cache the runners share),
	// named with its owner's prefix ("acme."), as the default group's constraints want.
	volume := fmt.Sprintf("acme.garo-e2e-cache-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), volume, true) })
	changed := time.Now()
	if _, err := e.portal.PatchPolicy(t.Context(), repo, policy, map[string]any{"runner": map[string]any{
		"env":    map[string]string{"E2E_VARIANT": "2"},
		"docker": map[string]any{"volumes": []map[string]string{{"source": volume, "target": "/home/runner/cache"}}},
	}}, ""); err != nil {
		t.Fatal(err)
	}
	var after []string
	testkit.Eventually(t, 60*time.Second, "two new idle runners in place of the old ones", func() bool {
		names, ok := idleRunners(t.Context(), cli, e, sel)
		after = names
		return ok && len(names) == 2 && !slices.Contains(names, before[0]) && !slices.Contains(names, before[1])
	})
	t.Logf("runner env and volumes changed → idle runners %v replaced by %v in %s (idle_grace 1m: not waited for)",
		before, after, time.Since(changed).Round(time.Millisecond))
	// idleRunners reads the engine on its own: the sampler may not have inspected the
	// newest container yet (its list runs every 10 ms), so wait for its record.
	testkit.Eventually(t, 10*time.Second, "the sampler's inspection of the new runners", func() bool {
		for _, name := range after {
			if sc, ok := smp.container(name); !ok || sc.env == nil {
				return false
			}
		}
		return true
	})
	for _, name := range after {
		sc, ok := smp.container(name)
		env := sc.env
		if !ok || !slices.Contains(env, "E2E_VARIANT=2") {
			t.Errorf("new runner %s: env %v, want E2E_VARIANT=2", name, env)
		}
		if want := "volume " + volume + ":/home/runner/cache"; !slices.Contains(sc.mounts, want) {
			t.Errorf("new runner %s: mounts %v, want %s", name, sc.mounts, want)
		}
	}
	for _, name := range before {
		if sc, ok := smp.container(name); !ok || sc.env == nil || slices.Contains(sc.env, "E2E_VARIANT=2") {
			t.Errorf("old runner %s: env %v seen %v; want the old env", name, sc.env, ok)
		}
	}

	job, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", policy})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "the job done", func() bool { j, _ := e.sim.Job(job.ID); return j.Status == "completed" })
	if j, _ := e.sim.Job(job.ID); j.Conclusion != "success" || !slices.Contains(after, j.RunnerName) {
		t.Errorf("job ran on %q (%s); want one of the new runners %v", j.RunnerName, j.Conclusion, after)
	}
	if _, err := e.portal.PatchPolicy(t.Context(), repo, policy, map[string]any{"min_idle": 0, "idle_grace": "1s"}, ""); err != nil {
		t.Fatal(err)
	}
	nothingLeft(t, cli, e, sel, 60*time.Second)
	smp.mu.Lock()
	defer smp.mu.Unlock()
	if smp.maxLive > maxRunners {
		t.Errorf("%d containers created or running at once; max_runners is %d", smp.maxLive, maxRunners)
	}
}
