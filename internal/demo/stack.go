package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/imagebuild"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	serverapp "github.com/garo-dev/garo/server/app"
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

	image      string // the stub runner image, removed by cleanup
	sim        *githubsim.Sim
	portal     *client.Client
	serverURL  string
	simURL     string
	adminToken string
	agentID    string
	engine     string // "version (API x)"

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

// start builds the image and starts the simulator, the server and the agent.
func (r *run) start(ctx context.Context) error {
	if err := r.buildImage(ctx); err != nil {
		return err
	}
	serverAddr, err := freeAddr()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	secret, adminToken := randomHex(16), "garo_"+randomHex(24)
	simURL, err := r.startSim(serverAddr, secret)
	if err != nil {
		return err
	}
	r.simURL, r.adminToken = simURL, adminToken
	if err := r.startServer(ctx, serverAddr, simURL, secret, adminToken); err != nil {
		return err
	}
	r.serverURL = "http://" + serverAddr
	r.portal, err = client.New(r.serverURL, adminToken)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
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

// startSim serves the GitHub simulator on a free 127.0.0.1 port, sending webhooks to
// the server that will listen on serverAddr.
func (r *run) startSim(serverAddr, secret string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo: simulator: %w", err)
	}
	base := "http://" + ln.Addr().String()
	sim, err := githubsim.New(githubsim.Options{
		WebhookURL: "http://" + serverAddr + "/webhooks/github", WebhookSecret: secret,
		PathPrefix: "/api/v3", BaseURL: base, Log: r.log.With("side", "githubsim"),
	})
	if err != nil {
		_ = ln.Close() // the simulator's error is the one to report
		return "", fmt.Errorf("demo: simulator: %w", err)
	}
	sim.AddRepository(repo)
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	r.sim = sim
	r.undo = append(r.undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		sim.Close()
	})
	r.view.linef("GitHub simulator on %s, App installed on %s", base, repo)
	return base, nil
}

// startServer runs garo-server on SQLite with the simulator as its GitHub App.
func (r *run) startServer(ctx context.Context, addr, simURL, secret, adminToken string) error {
	keyFile := filepath.Join(r.o.Dir, "app.pem")
	if err := os.WriteFile(keyFile, r.sim.PrivateKeyPEM(), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg := config.Defaults()
	cfg.Server.Listen = addr
	cfg.Database.SQLitePath = filepath.Join(r.o.Dir, "garo.db")
	cfg.Auth.BootstrapAdminToken = adminToken
	cfg.Auth.AdminTokenFile = filepath.Join(r.o.Dir, "admin.token")
	cfg.GitHub.APIURL = simURL + "/api/v3/"
	cfg.GitHub.AppID = r.sim.AppID()
	cfg.GitHub.PrivateKeyFile = keyFile
	cfg.GitHub.WebhookSecret = secret
	cfg.Agents.HeartbeatInterval = time.Second
	cfg.Agents.LongPollTimeout = 10 * time.Second
	cfg.Agents.OfflineAfter = 30 * time.Second
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo: server configuration: %w", err)
	}
	srvCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- serverapp.Run(srvCtx, cfg, r.log.With("side", "server"), func(net.Addr, string) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return fmt.Errorf("demo: garo-server: %w", err)
	case <-ctx.Done():
		cancel()
		if err := <-done; err != nil {
			r.log.Debug("garo-server stopped", "err", err)
		}
		return ctx.Err()
	}
	r.undo = append(r.undo, func() {
		cancel()
		if err := <-done; err != nil {
			r.log.Warn("server stopped", "err", err)
		}
	})
	r.view.linef("garo-server on http://%s (SQLite %s)", addr, cfg.Database.SQLitePath)
	return nil
}

// createPolicy creates the demo's runner policy through the portal API.
func (r *run) createPolicy(ctx context.Context) error {
	grace, boot := portalapi.Duration(r.o.IdleGrace), portalapi.Duration(2*time.Minute)
	p, err := r.portal.CreatePolicy(ctx, repo, portalapi.PolicyRequest{
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
	uses := 1
	tok, err := r.portal.CreateRegistrationToken(ctx, "default", portalapi.RegistrationTokenRequest{Uses: &uses})
	if err != nil {
		return fmt.Errorf("demo: registration token: %w", err)
	}
	cfg := agentapp.Defaults()
	cfg.Server.URL = r.serverURL
	cfg.RegistrationToken = tok.Token
	cfg.Name = "demo-agent"
	cfg.StateFile = filepath.Join(r.o.Dir, "agent-state.json")
	cfg.Status.Listen = ""
	cfg.Provider.Type = "docker"
	cfg.Provider.Docker.Host = r.cli.DaemonHost()
	cfg.Provider.Docker.PullPolicy = "never"
	cfg.Provider.Docker.StopTimeout = 5 * time.Second
	cfg.Scheduler.Interval = 250 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo: agent configuration: %w", err)
	}
	agCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- agentapp.Run(agCtx, cfg, r.log.With("side", "agent"), agentapp.Options{
			Ready: func(id string, _ net.Addr) { ready <- id },
		})
	}()
	select {
	case r.agentID = <-ready:
	case err := <-done:
		cancel()
		return fmt.Errorf("demo: garo-agent: %w", err)
	case <-ctx.Done():
		cancel()
		if err := <-done; err != nil {
			r.log.Debug("garo-agent stopped", "err", err)
		}
		return ctx.Err()
	}
	r.undo = append(r.undo, func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("agent stopped", "err", err)
		}
	})
	r.view.linef("garo-agent %s registered; runners are containers on the Docker engine", r.agentID)
	return nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago: the
// simulator must know the server's webhook URL before the server starts.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
The server, the simulator and the agent keep running until Ctrl-C. In another shell:

  export GARO_SERVER=%s GARO_TOKEN=%s
  ./bin/garoctl policy get %s %s
  ./bin/garoctl job list %s
  ./bin/garoctl agent list

Queue more jobs (the simulator sends their webhooks):

  curl -sS -X POST %s/_sim/jobs -d '{"repository":"%s","labels":["self-hosted","%s"]}'
`, r.serverURL, r.adminToken, repo, policy, repo, r.simURL, repo, policy)
}
