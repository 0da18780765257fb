package docker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Engine is the part of the Docker engine's API that the provider calls: a subset of
// *client.Client (github.com/docker/docker/client), which Open builds. Tests give a fake
// to see what a hung or failing engine does to the provider.
type Engine interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig,
		networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerLogs(ctx context.Context, containerID string, options container.LogsOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	Ping(ctx context.Context) (types.Ping, error)
	// DaemonHost is the engine's address, for messages.
	DaemonHost() string
}

var _ Engine = (*client.Client)(nil)

// PingTimeout bounds the check in Open that the engine answers.
const PingTimeout = 10 * time.Second

// Open builds the Docker provider of cfg for garo-agent: it validates cfg, connects to the
// engine at cfg.Host (else as the docker CLI would: DOCKER_HOST, DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY, the local socket) with API version negotiation, loads the registry
// credentials of cfg.RegistryAuthFile, and pings the engine within PingTimeout: an engine
// that does not answer fails the start rather than every runner later. Its errors name
// the configuration key to look at. release closes the engine's client.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (p *Provider, release func(), err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("provider.type is docker but the engine address is not usable (%s): %w", hostSource(cfg.Host), err)
	}
	closeCli := func() { _ = cli.Close() }
	if p, err = open(ctx, cli, cfg, log, PingTimeout); err != nil {
		closeCli()
		return nil, nil, err
	}
	log.Info("docker engine answers", "host", cli.DaemonHost(), "api_version", cli.ClientVersion(), "pull_policy", p.cfg.PullPolicy)
	return p, closeCli, nil
}

// open is Open on an engine: registry credentials, the provider, and a ping bounded by
// timeout.
func open(ctx context.Context, eng Engine, cfg Config, log *slog.Logger, timeout time.Duration) (*Provider, error) {
	var auth RegistryAuth
	if cfg.RegistryAuthFile != "" {
		a, warnings, err := LoadRegistryAuth(cfg.RegistryAuthFile)
		if err != nil {
			return nil, fmt.Errorf("provider.docker.registry_auth_file: %w", err)
		}
		for _, w := range warnings {
			log.Warn("registry credentials", "warning", w)
		}
		auth = a
		log.Info("registry credentials loaded", "file", cfg.RegistryAuthFile, "registries", len(a))
	}
	p, err := New(eng, cfg, auth, log)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := eng.Ping(pctx); err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		return nil, fmt.Errorf("provider.type is docker but no Docker engine answers at %s (%s): %w", eng.DaemonHost(), hostSource(cfg.Host), err)
	}
	return p, nil
}

// hostSource says where the engine's address came from, for messages.
func hostSource(host string) string {
	switch {
	case host != "":
		return "provider.docker.host"
	case os.Getenv(client.EnvOverrideHost) != "":
		return "from DOCKER_HOST, as provider.docker.host is empty"
	}
	return "the local socket, as provider.docker.host and DOCKER_HOST are empty"
}
