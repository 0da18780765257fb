package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/shared/dockertest"
)

// dockerEngine connects to the Docker engine, or skips loudly when none answers (fails
// under CI=true, where .ci/run starts dockerd).
func dockerEngine(t *testing.T) *dockerclient.Client {
	return dockertest.Engine(t, "the end-to-end Docker test")
}

// buildStubImage builds the image of deployments/stub-runner/Dockerfile, as `make
// stub-image` does, through the engine API from an in-memory context (the Dockerfile and
// the static garo-stub-runner binary), under a tag of its own; removed when the test ends.
// extra lines (such as ENV instructions) are appended to the Dockerfile.
func buildStubImage(t *testing.T, cli *dockerclient.Client, extra ...string) string {
	t.Helper()
	dockerfile, err := os.ReadFile("../deployments/stub-runner/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range extra {
		dockerfile = append(dockerfile, "\n"+l+"\n"...)
	}
	body, err := dockertest.BuildStatic("../shared/githubsim/cmd/garo-stub-runner")
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("garo-e2e/stub-runner:%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := dockertest.BuildImage(ctx, cli, ref,
		dockertest.File{Name: "Dockerfile", Mode: 0o644, Data: dockerfile},
		dockertest.File{Name: "garo-stub-runner", Mode: 0o755, Data: body}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.WithoutCancel(t.Context()), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// startDockerAgent runs garo-agent in process with the provider its configuration names
// (no injected provider) and returns its id once it is ready.
func startDockerAgent(t *testing.T, cfg app.Config) (*agent, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	a := &agent{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("side", "agent")
	go func() {
		a.done <- app.Run(ctx, cfg, log, app.Options{Ready: func(id string, _ net.Addr) { ready <- id }})
	}()
	select {
	case id := <-ready:
		t.Cleanup(func() { _ = a.stop() })
		return a, id
	case err := <-a.done:
		cancel()
		t.Fatalf("agent did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("agent did not start")
	}
	return nil, ""
}

// seenContainer is what the sampler learnt of one Garo container.
type seenContainer struct {
	runner    string    // the runner name label
	started   time.Time // State.StartedAt, once the engine reports it
	jitInEnv  bool      // ACTIONS_RUNNER_INPUT_JITCONFIG set, non-empty, in Config.Env
	jitInArgv bool      // the JIT config appears in Path, Args, Cmd or Entrypoint
}

// containerSampler lists the agent's containers through the engine API until stopped,
// remembering the most that existed at once and, per container, what inspect shows.
type containerSampler struct {
	mu         sync.Mutex
	maxAll     int // containers in any state, exited ones awaiting removal included
	maxLive    int // created or running: runners in the sense of max_runners
	maxRunning int
	samples    int
	listErrs   int
	seen       map[string]*seenContainer // by container id
	stop, done chan struct{}
}

func sampleContainers(cli *dockerclient.Client, sel filters.Args) *containerSampler {
	s := &containerSampler{seen: map[string]*seenContainer{}, stop: make(chan struct{}), done: make(chan struct{})}
	ctx := context.Background()
	go func() {
		defer close(s.done)
		for {
			list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
			running, live := 0, 0
			for _, c := range list {
				if c.State == "running" {
					running++
				}
				if c.State == "running" || c.State == "created" {
					live++
				}
				s.mu.Lock()
				sc := s.seen[c.ID]
				if sc == nil {
					sc = &seenContainer{runner: c.Labels[provider.LabelRunner]}
					s.seen[c.ID] = sc
				}
				needInspect := sc.started.IsZero()
				s.mu.Unlock()
				if needInspect {
					if info, err := cli.ContainerInspect(ctx, c.ID); err == nil {
						inspected(sc, info, &s.mu)
					}
				}
			}
			s.mu.Lock()
			s.samples++
			if err != nil {
				s.listErrs++
			} else {
				s.maxAll, s.maxLive, s.maxRunning = max(s.maxAll, len(list)), max(s.maxLive, live), max(s.maxRunning, running)
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return s
}

// inspected records the start time and where the JIT config is in one inspect result.
func inspected(sc *seenContainer, info container.InspectResponse, mu *sync.Mutex) {
	var jit string
	var argv []string
	if info.Config != nil {
		for _, kv := range info.Config.Env {
			if v, ok := strings.CutPrefix(kv, provider.EnvJITConfig+"="); ok {
				jit = v
			}
		}
		argv = append(append(argv, info.Config.Entrypoint...), info.Config.Cmd...)
	}
	argv = append(append(argv, info.Path), info.Args...)
	inArgv := false
	for _, a := range argv {
		if jit != "" && strings.Contains(a, jit) {
			inArgv = true
		}
	}
	var started time.Time
	if info.State != nil {
		if ts, err := time.Parse(time.RFC3339Nano, info.State.StartedAt); err == nil && ts.Year() > 1 {
			started = ts
		}
	}
	mu.Lock()
	defer mu.Unlock()
	sc.jitInEnv = sc.jitInEnv || jit != ""
	sc.jitInArgv = sc.jitInArgv || inArgv
	if !started.IsZero() {
		sc.started = started
	}
}

func (s *containerSampler) finish() {
	close(s.stop)
	<-s.done
}

// percentile is the nearest-rank p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*p+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// The end-to-end test on a real Docker engine: eight queued jobs for a policy with
// max_runners 3 run in stub runner containers started by garo-agent's Docker provider;
// never more than three containers, every job succeeds, the JIT config travels in the
// environment only, and the ephemeral containers are removed afterwards.
func TestDockerEndToEnd(t *testing.T) {
	cli := dockerEngine(t)
	start := time.Now()
	// The stub's work time is baked into the image: the server reserves GARO_* variables
	// in a policy's runner.env.
	ref := buildStubImage(t, cli, "ENV GARO_STUB_WORK=300ms")
	t.Logf("stub image %s built in %s", ref, time.Since(start).Round(time.Millisecond))

	e := newEnvWith(t, envOptions{simBaseURL: true})
	const policy, maxRunners, jobs = "docker-e2e", 3, 8
	// A runner created for a job that another runner took first stays idle until
	// idle_grace: keep it short so that "nothing left" is reached within the test.
	grace, boot := portalapi.Duration(5*time.Second), portalapi.Duration(2*time.Minute)
	if _, err := e.portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{
		Name: policy, Labels: []string{policy}, MinIdle: 0, MaxRunners: maxRunners,
		IdleGrace: &grace, BootstrapTimeout: &boot, Provider: "docker",
		Runner: portalapi.RunnerSpec{
			Image:  ref,
			Docker: &portalapi.DockerSpec{NetworkMode: "host"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Provider.Type = "docker"
	cfg.Provider.Docker.PullPolicy = "never"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ag, agentID := startDockerAgent(t, cfg)

	// This agent's containers: Garo's managed-by label and its agent id, so that other
	// tests' containers on the same engine do not count.
	sel := filters.NewArgs(
		filters.Arg("label", provider.LabelManagedBy+"="+provider.ManagedByGaro),
		filters.Arg("label", provider.LabelAgentID+"="+agentID),
	)
	t.Cleanup(func() { // whatever a failure left behind
		ctx := context.WithoutCancel(t.Context())
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
		for _, c := range list {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	})
	smp := sampleContainers(cli, sel)
	stopSampler := sync.OnceFunc(smp.finish)
	t.Cleanup(stopSampler)

	queued := map[int64]time.Time{}
	var ids []int64
	burst := time.Now()
	for range jobs {
		at := time.Now()
		j, err := e.sim.QueueJob(t.Context(), repo, []string{"self-hosted", policy})
		if err != nil {
			t.Fatal(err)
		}
		queued[j.ID] = at
		ids = append(ids, j.ID)
	}
	completed := func() int {
		n := 0
		for _, id := range ids {
			if j, _ := e.sim.Job(id); j.Status == "completed" {
				n++
			}
		}
		return n
	}
	eventually(t, 120*time.Second, fmt.Sprintf("all %d jobs completed", jobs), func() bool { return completed() == jobs })
	allDone := time.Since(burst)
	for _, id := range ids {
		if j, _ := e.sim.Job(id); j.Conclusion != "success" {
			t.Errorf("job %d: %s/%s on %q", id, j.Status, j.Conclusion, j.RunnerName)
		}
	}
	// The ephemeral containers go: `docker ps -a --filter label=garo.dev/managed-by=garo`
	// (for this agent) is empty once the runners are done.
	eventually(t, 60*time.Second, "no Garo container left", func() bool {
		list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sel})
		return err == nil && len(list) == 0
	})
	stopSampler()

	smp.mu.Lock()
	defer smp.mu.Unlock()
	// max_runners counts runners that are creating, booting, idle or busy: containers
	// created or running. An exited container awaiting removal is no runner any more.
	if smp.maxLive > maxRunners {
		t.Errorf("%d Garo containers were created or running at once (%d running, %d in any state); max_runners is %d", smp.maxLive, smp.maxRunning, smp.maxAll, maxRunners)
	}
	if smp.listErrs > 0 {
		t.Errorf("%d of %d container listings failed", smp.listErrs, smp.samples)
	}
	byRunner := map[string]*seenContainer{}
	for id, sc := range smp.seen {
		if sc.jitInArgv {
			t.Errorf("container %.12s: the JIT config is in its command line", id)
		}
		if !sc.jitInEnv {
			t.Errorf("container %.12s (runner %q): no %s in its environment", id, sc.runner, provider.EnvJITConfig)
		}
		byRunner[sc.runner] = sc
	}
	var toRunning []time.Duration
	for _, id := range ids {
		j, _ := e.sim.Job(id)
		sc := byRunner[j.RunnerName]
		if sc == nil || sc.started.IsZero() {
			t.Errorf("job %d ran on %q, whose running container the sampler never saw", id, j.RunnerName)
			continue
		}
		toRunning = append(toRunning, sc.started.Sub(queued[id]))
	}
	t.Logf("%d jobs done %s after the burst was queued; %d containers seen in %d samples, at most %d at once (%d running); max_runners %d",
		jobs, allDone.Round(time.Millisecond), len(smp.seen), smp.samples, smp.maxAll, smp.maxRunning, maxRunners)
	if len(toRunning) > 0 {
		firstWave := slices.Clone(toRunning[:min(maxRunners, len(toRunning))])
		t.Logf("job queued → its container running, over %d jobs: p50 %s, p95 %s (the first %d, no wait for capacity: p50 %s)",
			len(toRunning), percentile(toRunning, 0.50).Round(time.Millisecond), percentile(toRunning, 0.95).Round(time.Millisecond),
			len(firstWave), percentile(firstWave, 0.50).Round(time.Millisecond))
	}

	if err := ag.stop(); err != nil {
		t.Errorf("agent stop: %v", err)
	}

	// For comparison: a plain `docker run -d` of the same image on the host network, as
	// ContainerCreate + ContainerStart (the stub exits at once: no JIT config to use).
	var plain []time.Duration
	for range 3 {
		ctx := t.Context()
		t0 := time.Now()
		c, err := cli.ContainerCreate(ctx,
			&container.Config{Image: ref, Env: []string{"GARO_STUB_EXIT_EARLY=0"}, Labels: map[string]string{"garo-e2e": "plain-run"}},
			&container.HostConfig{NetworkMode: "host"}, nil, nil, "")
		if err != nil {
			t.Fatalf("plain create: %v", err)
		}
		err = cli.ContainerStart(ctx, c.ID, container.StartOptions{})
		d := time.Since(t0)
		_ = cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
		if err != nil {
			t.Fatalf("plain start: %v", err)
		}
		plain = append(plain, d)
	}
	t.Logf("plain ContainerCreate+ContainerStart of %s on the host network: median of 3 %s (%v)",
		ref, percentile(slices.Clone(plain), 0.50).Round(time.Millisecond), plain)
}
