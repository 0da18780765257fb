package e2e_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/stats"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	"github.com/garo-dev/garo/internal/testkit/stack"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
)

// dockerEngine connects to the Docker engine, or skips loudly when none answers (fails
// under CI=true, where .ci/run starts dockerd).
func dockerEngine(t *testing.T) *dockerclient.Client {
	return dockertest.Engine(t, "the end-to-end Docker test")
}

// dockerAgent starts garo-agent in process for e on the Docker provider (pull policy
// never: the stub image is built here, nothing is pulled), and returns it with its id
// and the selector of its containers. Whatever a failure leaves behind is removed when
// the test ends, after the agent stopped.
func dockerAgent(t *testing.T, e *env, cli *dockerclient.Client) (*stack.Agent, string, filters.Args) {
	t.Helper()
	cfg := e.agentConfig(e.registrationToken(t))
	cfg.Provider.Type = "docker"
	cfg.Provider.Docker.PullPolicy = "never"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ag, err := e.StartAgent(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sel := agentContainers(ag.ID)
	t.Cleanup(func() { removeContainers(cli, sel) })
	t.Cleanup(func() { _ = ag.Stop() }) // runs first: nothing creates containers meanwhile
	return ag, ag.ID, sel
}

// agentContainers selects one agent's containers: Garo's managed-by label and the agent's
// id. Other test binaries (agent/provider/docker, agent/app, another run of this package)
// may create Garo containers on the same engine at the same time, and the scenarios here
// run in parallel: only this agent's containers count.
func agentContainers(agentID string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", provider.LabelManagedBy+"="+provider.ManagedByGaro),
		filters.Arg("label", provider.LabelAgentID+"="+agentID),
	)
}

// removeContainers force-removes what sel selects: what a failed test left behind.
func removeContainers(cli *dockerclient.Client, sel filters.Args) {
	ctx := context.Background() // a cleanup: the test's context has ended
	list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: sel})
	for _, c := range list {
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

// dockerPolicy creates policy name for repo on the Docker provider with the stub image ref
// on the host network (the runners reach the simulator on 127.0.0.1).
func dockerPolicy(t *testing.T, e *env, name, ref string, minIdle, maxRunners int, grace time.Duration) {
	t.Helper()
	g, boot := portalapi.Duration(grace), portalapi.Duration(2*time.Minute)
	// The default group lets a policy choose no network mode (docs/security.md,
	// "Guardrails"): the operator allows host networking for these runners.
	if _, err := e.portal.UpdateAgentGroup(t.Context(), portalapi.DefaultAgentGroup, portalapi.AgentGroupPatch{
		Constraints: &portalapi.AgentGroupConstraints{AllowedNetworkModes: []string{"host"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.portal.CreatePolicy(t.Context(), repo, portalapi.PolicyRequest{
		Name: name, Labels: []string{name}, MinIdle: minIdle, MaxRunners: maxRunners,
		IdleGrace: &g, BootstrapTimeout: &boot, Provider: "docker",
		Runner: portalapi.RunnerSpec{
			Image:  ref,
			Docker: &portalapi.DockerSpec{NetworkMode: "host"},
		},
	}); err != nil {
		t.Fatal(err)
	}
}

// nothingLeft waits until `docker ps -a --filter label=garo.dev/managed-by=garo` shows
// none of the agent's containers (sel) and the simulator holds no runner of the
// repository: every runner is done, and none is left behind at GitHub either.
func nothingLeft(t *testing.T, cli *dockerclient.Client, e *env, sel filters.Args, timeout time.Duration) {
	t.Helper()
	testkit.Eventually(t, timeout, "no Garo container of the agent and no runner at GitHub left", func() bool {
		list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sel})
		return err == nil && len(list) == 0 && len(e.sim.Runners(repo)) == 0
	})
}

// simTap sits in front of the simulator (envOptions.simHandler). It notes when each
// request arrives, before the simulator serves it, and holds the requests that hold
// matches until release: a test reaches a state by construction, not by timing (runners
// held in their "complete" call stay busy with their jobs for as long as the test
// needs).
type simTap struct {
	hold     func(*http.Request) bool // nil holds nothing
	open     chan struct{}
	once     sync.Once
	held     atomic.Int32
	mu       sync.Mutex
	arrivals []arrival
}

// arrival is one request as it reached the simulator.
type arrival struct {
	method, path string
	at           time.Time
}

func newSimTap(hold func(*http.Request) bool) *simTap {
	return &simTap{hold: hold, open: make(chan struct{})}
}

func (s *simTap) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.arrivals = append(s.arrivals, arrival{method: r.Method, path: r.URL.Path, at: time.Now()})
		s.mu.Unlock()
		if s.hold != nil && s.hold(r) {
			s.held.Add(1)
			select {
			case <-s.open:
				s.held.Add(-1)
			case <-r.Context().Done():
				s.held.Add(-1)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// release lets held requests through, and every later one.
func (s *simTap) release() { s.once.Do(func() { close(s.open) }) }

// holding is the number of requests held now.
func (s *simTap) holding() int { return int(s.held.Load()) }

// firstArrival is when the first request method path reached the simulator; zero if none.
func (s *simTap) firstArrival(method, path string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.arrivals {
		if a.method == method && a.path == path {
			return a.at
		}
	}
	return time.Time{}
}

// completing matches a runner reporting its job done: the stub runner's "complete" call.
func completing(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/_sim/runners/") && strings.HasSuffix(r.URL.Path, "/complete")
}

// runnerDeletion is the REST path that removes runner id from the repository at GitHub.
func runnerDeletion(id string) string { return "/api/v3/repos/" + repo + "/actions/runners/" + id }

// seenContainer is what the sampler learnt of one Garo container.
type seenContainer struct {
	runner    string    // the runner name label
	runnerID  string    // GitHub's runner id label
	started   time.Time // State.StartedAt, once the engine reports it
	died      time.Time // the engine's first die event
	jitInEnv  bool      // ACTIONS_RUNNER_INPUT_JITCONFIG set, non-empty, in Config.Env
	jitInArgv bool      // the JIT config appears in Path, Args, Cmd or Entrypoint
	env       []string  // Config.Env without the JIT config
	mounts    []string  // "type source:destination" of each mount
}

// containerSampler lists the agent's containers through the engine API until stopped,
// remembering the most that existed at once and, per container, what inspect shows and
// when the engine reported it dead (its event stream).
type containerSampler struct {
	mu         sync.Mutex
	maxAll     int // containers in any state, exited ones awaiting removal included
	maxLive    int // created or running: runners in the sense of max_runners
	maxRunning int
	samples    int
	listErrs   int
	eventsErr  error                     // why the engine's event stream ended before the sampler did
	seen       map[string]*seenContainer // by container id
	stop, done chan struct{}
	cancel     context.CancelFunc
	watching   sync.WaitGroup
}

func sampleContainers(cli *dockerclient.Client, sel filters.Args) *containerSampler {
	s := &containerSampler{seen: map[string]*seenContainer{}, stop: make(chan struct{}), done: make(chan struct{})}
	// The sampler outlives no test (finish is a cleanup), and its calls end with it.
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	evSel := sel.Clone()
	evSel.Add("type", string(events.ContainerEventType))
	evSel.Add("event", string(events.ActionDie))
	// Since replays what happened while the stream was being set up.
	since := time.Now().Add(-time.Second)
	msgs, errs := cli.Events(ctx, events.ListOptions{Filters: evSel, Since: fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())})
	s.watching.Add(1)
	go func() {
		defer s.watching.Done()
		for {
			select {
			case m := <-msgs:
				s.mu.Lock()
				sc := s.seen[m.Actor.ID]
				if sc == nil {
					sc = &seenContainer{runner: m.Actor.Attributes[provider.LabelRunner], runnerID: m.Actor.Attributes[provider.LabelRunnerID]}
					s.seen[m.Actor.ID] = sc
				}
				if sc.died.IsZero() {
					sc.died = time.Unix(0, m.TimeNano)
				}
				s.mu.Unlock()
			case err := <-errs:
				if ctx.Err() == nil { // not the sampler's own end: die events are missing
					s.mu.Lock()
					s.eventsErr = err
					s.mu.Unlock()
				}
				return
			}
		}
	}()
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
					sc = &seenContainer{runner: c.Labels[provider.LabelRunner], runnerID: c.Labels[provider.LabelRunnerID]}
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
	var argv, env []string
	if info.Config != nil {
		for _, kv := range info.Config.Env {
			if v, ok := strings.CutPrefix(kv, provider.EnvJITConfig+"="); ok {
				jit = v
				continue
			}
			env = append(env, kv)
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
	if env != nil {
		sc.env = env
	}
	for _, m := range info.Mounts {
		if sc.mounts == nil || !slices.Contains(sc.mounts, string(m.Type)+" "+cmp.Or(m.Name, m.Source)+":"+m.Destination) {
			sc.mounts = append(sc.mounts, string(m.Type)+" "+cmp.Or(m.Name, m.Source)+":"+m.Destination)
		}
	}
	if !started.IsZero() {
		sc.started = started
	}
}

// finish stops the sampler; call once.
func (s *containerSampler) finish() {
	close(s.stop)
	<-s.done
	s.cancel()
	s.watching.Wait()
}

// container returns a copy of what the sampler knows of the container of runner.
func (s *containerSampler) container(runner string) (seenContainer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.seen {
		if sc.runner == runner {
			return *sc, true
		}
	}
	return seenContainer{}, false
}

// containersByRunner counts the containers seen per runner name.
func (s *containerSampler) containersByRunner() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, sc := range s.seen {
		n[sc.runner]++
	}
	return n
}

// The end-to-end test on a real Docker engine, with the server on PostgreSQL:
// eight queued jobs for a policy with max_runners 3 run in stub runner containers started
// by garo-agent's Docker provider; never more than three containers, the jobs beyond them
// wait for capacity in order (visible in the portal), every job succeeds, the JIT config
// travels in the environment only, and the ephemeral containers are removed afterwards.
func TestDockerEndToEnd(t *testing.T) {
	cli := dockerEngine(t)
	start := time.Now()
	// The stub's work time is baked into the image: the server reserves GARO_* variables
	// in a policy's runner.env.
	ref := dockertest.StubImage(t, cli, "ENV GARO_STUB_WORK=300ms")
	t.Logf("stub image %s built in %s", ref, time.Since(start).Round(time.Millisecond))

	// The first runners are held in their "complete" call until the test has seen the
	// queue: busy with their jobs, they keep the policy at max_runners by construction.
	tap := newSimTap(completing)
	e := newEnvWith(t, envOptions{database: testdb.Postgres(t), simHandler: tap.wrap})
	t.Cleanup(tap.release) // before the simulator's server closes (cleanups run last first)
	const policy, maxRunners, jobs = "docker-e2e", 3, 8
	// A runner created for a job that another runner took first stays idle until
	// idle_grace: keep it short so that "nothing left" is reached within the test.
	dockerPolicy(t, e, policy, ref, 0, maxRunners, 5*time.Second)
	ag, _, sel := dockerAgent(t, e, cli)
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

	// max_runners respected with jobs queued: three runners hold their jobs, the other
	// five jobs wait for capacity, in order, and the portal shows it.
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("%d runners done with their jobs' work", maxRunners), func() bool { return tap.holding() == maxRunners })
	var waiting []portalapi.Job
	testkit.Eventually(t, 30*time.Second, "the queue in the portal", func() bool {
		waiting = waiting[:0]
		for _, j := range e.jobs(t) {
			if j.AgentState == portalapi.JobWaitingForCapacity {
				waiting = append(waiting, j)
			}
		}
		return len(waiting) == jobs-maxRunners
	})
	queueSeen := time.Since(burst)
	slices.SortFunc(waiting, func(a, b portalapi.Job) int { return int(a.ID - b.ID) })
	for i, j := range waiting {
		if sj, _ := e.sim.Job(j.ID); sj.Status != "queued" || j.QueuePosition != i+1 {
			t.Errorf("job %d waits for capacity at position %d (GitHub status %s); want position %d of the queued jobs, oldest first",
				j.ID, j.QueuePosition, sj.Status, i+1)
		}
	}
	if list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sel}); err != nil || len(list) != maxRunners {
		t.Errorf("%d containers (%v) while the queue waits; want max_runners, %d", len(list), err, maxRunners)
	}
	tap.release()
	released := time.Now()

	completed := func() int { return e.completed(ids) }
	testkit.Eventually(t, 120*time.Second, fmt.Sprintf("all %d jobs completed", jobs), func() bool { return completed() == jobs })
	allDone, afterRelease := time.Since(burst), time.Since(released)
	for _, id := range ids {
		if j, _ := e.sim.Job(id); j.Conclusion != "success" {
			t.Errorf("job %d: %s/%s on %q", id, j.Status, j.Conclusion, j.RunnerName)
		}
	}
	// The ephemeral containers go, and their runners at GitHub.
	nothingLeft(t, cli, e, sel, 60*time.Second)
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
	if smp.eventsErr != nil {
		t.Errorf("the engine's event stream failed: %v", smp.eventsErr)
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
	t.Logf("%d jobs done %s after the burst was queued (the queue was in the portal after %s; %s from releasing the first %d runners); %d containers seen in %d samples, at most %d at once (%d running); max_runners %d",
		jobs, allDone.Round(time.Millisecond), queueSeen.Round(time.Millisecond), afterRelease.Round(time.Millisecond), maxRunners,
		len(smp.seen), smp.samples, smp.maxAll, smp.maxRunning, maxRunners)
	if len(toRunning) >= maxRunners {
		// The later jobs waited for the test's hold on the first runners: their figures
		// say nothing about Garo.
		firstWave := slices.Clone(toRunning[:maxRunners])
		t.Logf("job queued → its container running, for the first %d jobs (no wait for capacity): p50 %s, max %s",
			len(firstWave), stats.Percentile(firstWave, 0.50).Round(time.Millisecond), stats.Percentile(firstWave, 1).Round(time.Millisecond))
	}

	if err := ag.Stop(); err != nil {
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
		ref, stats.Percentile(plain, 0.50).Round(time.Millisecond), plain)
}
