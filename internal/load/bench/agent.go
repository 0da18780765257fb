package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/imagebuild"
	"github.com/garo-dev/garo/internal/load"
	"github.com/garo-dev/garo/internal/testkit/stack/hub"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

// The agent memory scenario: its repository and policy, and how long the agent's RSS is
// sampled once every runner is idle.
const (
	agentRepo   = "acme/agent-rss"
	agentPolicy = "rss"
	agentSample = 10 * time.Second
)

// agentRow is the table's name of the agent's RSS figure for n runners.
func agentRow(n int) string { return fmt.Sprintf("agent RSS with %d runners, max", n) }

// agentMemory runs a real garo-agent process (built from o.Repo) against the hub (the
// simulator and a server on SQLite) with one policy that keeps n idle runners (min_idle =
// max_runners = n; 200, quick 20): on the Docker engine as containers of the stub runner
// image (built FROM scratch, nothing pulled) when there is one, otherwise on the memory
// provider. Once the agent reports them all idle, it samples the process's VmRSS for
// agentSample and adds the maximum, with VmHWM (the peak since its start) in the note.
func agentMemory(ctx context.Context, o Options, t *Table) {
	n, sample := 200, agentSample
	if o.Quick {
		n, sample = 20, 3*time.Second
	}
	row := agentRow(n)
	const target = "≤ 40 (200 runners)"
	if o.Repo == "" {
		t.Missing(row, "MB", target, "no checkout to build garo-agent in")
		return
	}
	fmt.Fprintf(o.Out, "--- agent memory: garo-agent with %d runners\n", n)
	m, err := measureAgent(ctx, o, n, sample)
	if err != nil {
		t.Missing(row, "MB", target, err.Error())
		return
	}
	note := fmt.Sprintf("garo-agent process, %s provider, %d idle runners, VmRSS sampled for %s; VmHWM (peak since start) %.1f MB",
		m.provider, n, sample, mb(m.hwm))
	if m.provider == "memory" {
		note += "; the memory provider's simulated runners run inside the agent and count in its RSS (an upper bound)"
	}
	if m.why != "" {
		note += "; " + m.why
	}
	t.Add(Figure{Name: row, Unit: "MB", Measured: mb(m.rss), Target: target, Note: note})
}

// agentMeasure is what measureAgent found: the largest VmRSS sampled and the last VmHWM
// (bytes), on which provider, and why not Docker if not.
type agentMeasure struct {
	rss, hwm uint64
	provider string
	why      string
}

func measureAgent(ctx context.Context, o Options, n int, sample time.Duration) (agentMeasure, error) {
	var m agentMeasure
	dir := filepath.Join(o.Dir, "agent-memory")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, fmt.Errorf("bench: %w", err)
	}
	bin := filepath.Join(dir, "garo-agent")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./agent/cmd/garo-agent")
	build.Dir = o.Repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return m, fmt.Errorf("build garo-agent: %w: %s", err, bytes.TrimSpace(out))
	}

	h, err := hub.Start(ctx, hub.Options{Dir: dir, Repositories: []string{agentRepo}})
	if err != nil {
		return m, err
	}
	defer h.Close()
	runner := portalapi.RunnerSpec{Image: "garo-bench/none"} // the memory provider runs no image
	m.provider = "memory"
	cli, ref, why := stubImage(ctx, o, n)
	if cli != nil {
		defer func() { _ = cli.Close() }()
		defer func() {
			rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_, _ = cli.ImageRemove(rm, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		}()
		// The runners reach the simulator on 127.0.0.1: host networking, which the
		// default group must allow (as in the demo).
		if _, err := h.Portal.UpdateAgentGroup(ctx, portalapi.DefaultAgentGroup, portalapi.AgentGroupPatch{
			Constraints: &portalapi.AgentGroupConstraints{AllowedNetworkModes: []string{"host"}},
		}); err != nil {
			return m, fmt.Errorf("allow host networking: %w", err)
		}
		m.provider = "docker"
		runner = portalapi.RunnerSpec{Image: ref, Docker: &portalapi.DockerSpec{NetworkMode: "host"}}
	}
	m.why = why
	boot := portalapi.Duration(5 * time.Minute)
	if _, err := h.Portal.CreatePolicy(ctx, agentRepo, portalapi.PolicyRequest{
		Name: agentPolicy, Labels: []string{agentPolicy}, MinIdle: n, MaxRunners: n,
		BootstrapTimeout: &boot, Provider: portalapi.ProviderDocker, Runner: runner,
	}); err != nil {
		return m, fmt.Errorf("create the policy: %w", err)
	}
	tok, err := h.RegistrationToken(ctx)
	if err != nil {
		return m, err
	}

	logFile, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return m, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(bin, "run", "--status-listen=")
	cmd.Env = append(os.Environ(),
		"GARO_AGENT_SERVER_URL="+h.ServerURL, "GARO_AGENT_REGISTRATION_TOKEN="+tok,
		"GARO_AGENT_NAME=bench-agent", "GARO_AGENT_STATE_FILE="+filepath.Join(dir, "state.json"),
		"GARO_AGENT_PROVIDER_TYPE="+m.provider, "GARO_AGENT_PROVIDER_DOCKER_PULL_POLICY=never",
		"GARO_AGENT_PROVIDER_DOCKER_STOP_TIMEOUT=2s", "GARO_AGENT_LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("start garo-agent: %w", err)
	}
	// exited is closed when the agent has exited, with waitErr set.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	agentID := ""
	defer func() {
		// SIGTERM: the agent drains (removes its idle runners) and unregisters; then
		// whatever containers are left of it go too.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		if cli != nil && agentID != "" {
			removeContainers(context.WithoutCancel(ctx), cli, agentID)
		}
	}()

	// Until every runner is idle: Docker creates them Parallel (8) at a time.
	wait := 2 * time.Minute
	if m.provider == "docker" {
		wait = 2*time.Minute + time.Duration(n)*time.Second
	}
	deadline := time.Now().Add(wait)
	t0 := time.Now()
	for {
		a, err := benchAgent(ctx, h.Portal)
		if err == nil && a != nil {
			agentID = a.ID
			if a.Runners["idle"] >= int64(n) {
				fmt.Fprintf(o.Out, "%d runners idle after %s\n", n, time.Since(t0).Round(time.Second))
				break
			}
		}
		select {
		case <-exited:
			return m, fmt.Errorf("garo-agent exited: %v (its log: %s)", waitErr, logFile.Name())
		case <-ctx.Done():
			return m, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			idle := int64(0)
			if a != nil {
				idle = a.Runners["idle"]
			}
			return m, fmt.Errorf("%d of %d runners idle after %s (its log: %s)", idle, n, wait, logFile.Name())
		}
	}
	end := time.Now().Add(sample)
	for time.Now().Before(end) {
		rss, hwm, err := load.ProcessMemory(cmd.Process.Pid)
		if err != nil {
			return m, err
		}
		m.rss, m.hwm = max(m.rss, rss), hwm
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return m, nil
}

// stubImage builds the stub runner image on the local Docker engine; without an engine
// or a stub runner it returns a nil client and why.
func stubImage(ctx context.Context, o Options, n int) (*dockerclient.Client, string, string) {
	if o.StubRunner == "" || o.StubDockerfile == "" {
		return nil, "", "no stub runner given"
	}
	bin, err1 := os.ReadFile(o.StubRunner)
	df, err2 := os.ReadFile(o.StubDockerfile)
	if err := errors.Join(err1, err2); err != nil {
		return nil, "", "stub runner: " + err.Error()
	}
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return nil, "", "no Docker engine: " + err.Error()
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		_ = cli.Close()
		return nil, "", "no Docker engine: " + err.Error()
	}
	ref := fmt.Sprintf("garo-bench/stub-runner:%d", time.Now().UnixNano())
	if err := imagebuild.Build(ctx, cli, ref,
		imagebuild.File{Name: "Dockerfile", Mode: 0o644, Data: df},
		imagebuild.File{Name: "garo-stub-runner", Mode: 0o755, Data: bin}); err != nil {
		_ = cli.Close()
		return nil, "", err.Error()
	}
	fmt.Fprintf(o.Out, "stub runner image %s built; %d containers on the Docker engine\n", ref, n)
	return cli, ref, ""
}

// benchAgent is the bench's agent as the server reports it, nil before it registered.
func benchAgent(ctx context.Context, portal *client.Client) (*portalapi.Agent, error) {
	l, err := portal.ListAgents(ctx, client.AgentQuery{})
	if err != nil {
		return nil, err
	}
	for i := range l.Items {
		if l.Items[i].Name == "bench-agent" {
			return &l.Items[i], nil
		}
	}
	return nil, nil
}

// removeContainers removes what containers of agentID are left.
func removeContainers(ctx context.Context, cli *dockerclient.Client, agentID string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", provider.LabelManagedBy+"="+provider.ManagedByGaro),
		filters.Arg("label", provider.LabelAgentID+"="+agentID),
	)})
	for _, c := range list {
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}
