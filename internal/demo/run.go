package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/internal/imagebuild"
	"github.com/garo-dev/garo/internal/testkit/stack"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/config"
)

// The demo's repository and policy.
const (
	repo   = "acme/demo"
	policy = "demo"
)

// run is one demo: the three components, the engine and what must be undone.
type run struct {
	o    Options
	cli  *dockerclient.Client
	log  *slog.Logger
	view *view

	image   string       // the stub runner image, removed by cleanup
	stack   *stack.Stack // the simulator and the server (internal/testkit/stack)
	agentID string
	engine  string // "version (API x)"

	undo []func() // in reverse order by stop
}

// stop stops the components (agent first, so that it drains its idle runners while the
// server still answers). Idempotent.
func (r *run) stop() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
	r.undo = nil
}

// cleanup stops the components and removes whatever containers of this agent are left
// (after a failure or an interrupt) and the image.
func (r *run) cleanup() {
	r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.agentID != "" {
		list, _ := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: r.selector()})
		for _, c := range list {
			_ = r.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
	if r.image != "" {
		_, _ = r.cli.ImageRemove(ctx, r.image, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

// selector finds this agent's containers: Garo's managed-by label and the agent id.
func (r *run) selector() filters.Args {
	return filters.NewArgs(
		filters.Arg("label", provider.LabelManagedBy+"="+provider.ManagedByGaro),
		filters.Arg("label", provider.LabelAgentID+"="+r.agentID),
	)
}

// start builds the image and starts the simulator, the server (on SQLite) and the agent.
func (r *run) start(ctx context.Context) error {
	if err := r.buildImage(ctx); err != nil {
		return err
	}
	s, err := stack.Start(ctx, stack.Options{
		Dir: r.o.Dir, Repositories: []string{repo}, Log: r.log,
		Server: func(cfg *config.Config) { cfg.Agents.OfflineAfter = 30 * time.Second },
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r.stack = s
	r.undo = append(r.undo, s.Close)
	r.view.linef("GitHub simulator on %s, App installed on %s", s.SimURL, repo)
	r.view.linef("garo-server on %s (SQLite %s)", s.ServerURL, s.ServerConfig().Database.SQLitePath)
	if r.o.Keep {
		r.view.linef("web console on %s/ui/: sign in with the admin token %s", s.ServerURL, s.AdminToken)
	} else {
		r.view.linef("web console on %s/ui/ while the demo runs (--keep keeps it, and prints a token to sign in with)", s.ServerURL)
	}
	if err := r.createPolicy(ctx); err != nil {
		return err
	}
	return r.startAgent(ctx)
}

// buildImage builds the stub runner image from its Dockerfile and binary, with the
// job's work time baked in.
func (r *run) buildImage(ctx context.Context) error {
	t0 := time.Now()
	ref := fmt.Sprintf("garo-demo/stub-runner:%d", time.Now().UnixNano())
	dockerfile := append([]byte(nil), r.o.StubDockerfile...)
	dockerfile = append(dockerfile, fmt.Sprintf("\nENV GARO_STUB_WORK=%s\n", r.o.Work)...)
	if err := imagebuild.Build(ctx, r.cli, ref,
		imagebuild.File{Name: "Dockerfile", Mode: 0o644, Data: dockerfile},
		imagebuild.File{Name: "garo-stub-runner", Mode: 0o755, Data: r.o.StubRunner}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r.image = ref
	if v, err := r.cli.ServerVersion(ctx); err == nil {
		r.engine = fmt.Sprintf("%s (API %s)", v.Version, r.cli.ClientVersion())
	}
	r.view.linef("stub runner image %s built FROM scratch in %s; Docker engine %s", ref, since(t0), r.engine)
	if info, err := r.cli.Info(ctx); err == nil && strings.Contains(info.OperatingSystem, "Docker Desktop") {
		r.view.linef("note: %s runs containers in a VM; the runners reach 127.0.0.1 of this machine only with host networking enabled (Settings → Resources → Network)", info.OperatingSystem)
	}
	return nil
}

// createPolicy creates the demo's runner policy through the portal API.
func (r *run) createPolicy(ctx context.Context) error {
	grace, boot := portalapi.Duration(r.o.IdleGrace), portalapi.Duration(2*time.Minute)
	// The runners reach the simulator on 127.0.0.1: the operator lets the default
	// group's policies choose host networking (a policy may choose no network mode
	// unless its group allows it).
	if _, err := r.stack.Portal.UpdateAgentGroup(ctx, portalapi.DefaultAgentGroup, portalapi.AgentGroupPatch{
		Constraints: &portalapi.AgentGroupConstraints{AllowedNetworkModes: []string{"host"}},
	}); err != nil {
		return fmt.Errorf("demo: allow host networking in the default group: %w", err)
	}
	p, err := r.stack.Portal.CreatePolicy(ctx, repo, portalapi.PolicyRequest{
		Name: policy, Labels: []string{policy}, MinIdle: 0, MaxRunners: r.o.MaxRunners,
		IdleGrace: &grace, BootstrapTimeout: &boot, Provider: portalapi.ProviderDocker,
		Runner: portalapi.RunnerSpec{Image: r.image, Docker: &portalapi.DockerSpec{NetworkMode: "host"}},
	})
	if err != nil {
		return fmt.Errorf("demo: create the policy: %w", err)
	}
	r.view.linef("policy %q of %s: labels [self-hosted %s], max_runners %d, min_idle %d, idle_grace %s, ephemeral runners",
		p.Name, repo, strings.Join(p.Labels, " "), p.MaxRunners, p.MinIdle, r.o.IdleGrace)
	return nil
}

// startAgent registers garo-agent with a one-time token and runs it on the Docker
// provider.
func (r *run) startAgent(ctx context.Context) error {
	tok, err := r.stack.RegistrationToken(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg := r.stack.AgentConfig(tok, "demo-agent")
	cfg.Provider.Type = "docker"
	cfg.Provider.Docker.Host = r.cli.DaemonHost()
	cfg.Provider.Docker.PullPolicy = "never"
	cfg.Provider.Docker.StopTimeout = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo: agent configuration: %w", err)
	}
	ag, err := r.stack.StartAgent(ctx, cfg, agentapp.Options{})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r.agentID = ag.ID
	r.undo = append(r.undo, func() {
		if err := ag.Stop(); err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("agent stopped", "err", err)
		}
	})
	r.view.linef("garo-agent %s registered; runners are containers on the Docker engine", r.agentID)
	return nil
}

// since is the time since t, rounded for people.
func since(t time.Time) time.Duration { return round(time.Since(t)) }

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// explore prints how to look around while the demo keeps running (Options.Keep).
func (r *run) explore(w io.Writer) {
	fmt.Fprintf(w, `
The server, the simulator and the agent keep running until Ctrl-C. Watch them in a
browser at %s/ui/ (sign in with the GARO_TOKEN below), or in another shell:

  export GARO_SERVER=%s GARO_TOKEN=%s
  ./bin/garoctl policy get %s %s
  ./bin/garoctl job list %s
  ./bin/garoctl agent list

Queue more jobs (the simulator sends their webhooks):

  curl -sS -X POST %s/_sim/jobs -d '{"repository":"%s","labels":["self-hosted","%s"]}'
`, r.stack.ServerURL, r.stack.ServerURL, r.stack.AdminToken, repo, policy, repo, r.stack.SimURL, repo, policy)
}
