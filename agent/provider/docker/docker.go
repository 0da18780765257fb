// Package docker is a provider.Provider that runs each runner as one container on a
// Docker engine, through the engine's API (github.com/docker/docker/client) with API
// version negotiation, so that older engines (Debian's docker.io 20.10, API 1.41) work.
//
// What a container gets:
//   - the image of the runner spec, fetched according to the provider's PullPolicy;
//   - the environment Spec.Env plus RunnerRequest.Env (which wins): the JIT config
//     travels only there (provider.EnvJITConfig), never in argv, labels, logs or errors;
//   - the command Spec.Command as the entrypoint, default /home/runner/run.sh;
//   - Garo's labels verbatim (LabelManagedBy added when the request lacks it);
//   - CPU (NanoCPUs) and memory limits from the spec's quantities;
//   - the network mode Spec.Docker.NetworkMode, else Config.NetworkMode, else "bridge";
//   - Spec.Docker.Volumes as mounts: named volumes, and host paths only below
//     Config.AllowedBindPaths.
//
// Only containers labelled garo.dev/managed-by=garo exist for this provider: List filters
// by labels in the engine, State reports any other container as gone and Delete leaves it
// alone. A container Garo did not create is never touched.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/spec"
)

// DefaultCommand is the command of the real runner image (ghcr.io/actions/actions-runner),
// used when the spec has none.
var DefaultCommand = []string{"/home/runner/run.sh"}

// DefaultNetworkMode is the network of runners whose spec and Config name none: Docker's
// own default, behind NAT, so that jobs do not share the host's network stack (and its
// loopback services).
const DefaultNetworkMode = "bridge"

// PullPolicy says when Create pulls the spec's image.
type PullPolicy string

// Pull policies.
const (
	PullNever     PullPolicy = "never"      // use the local image; error when missing
	PullIfMissing PullPolicy = "if-missing" // pull only when not present locally (default)
	PullAlways    PullPolicy = "always"     // pull before every Create
)

// Errors of Create, for errors.Is.
var (
	// ErrImageMissing: the image is not on the engine and the pull policy forbids pulling.
	ErrImageMissing = errors.New("docker: image not present")
	// ErrPull: pulling the image failed (unknown image, no registry access, auth).
	ErrPull = errors.New("docker: image pull failed")
)

// Provider is the Docker provider. Safe for concurrent use.
type Provider struct {
	eng  Engine
	cfg  Config
	auth RegistryAuth
	log  *slog.Logger

	imagesMu sync.Mutex
	images   map[string]time.Time // image → when it was last found on the engine (ensureImage)
}

// New returns the provider of runners on eng as cfg says; zero fields of cfg take the
// values of DefaultConfig, and the result must pass Validate (its error otherwise). auth
// are the credentials pulls use, by registry (nil: none); cfg.RegistryAuthFile is not
// read here but by Open. New does not talk to the engine; eng stays the caller's.
func New(eng Engine, cfg Config, auth RegistryAuth, log *slog.Logger) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Provider{eng: eng, cfg: cfg, auth: auth, log: log.With("provider", "docker")}, nil
}

// Name is "docker".
func (p *Provider) Name() string { return "docker" }

// containerName derives the container's name from the runner name: Docker names are
// [a-zA-Z0-9][a-zA-Z0-9_.-]*.
var badNameChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

func containerName(runner string) string {
	return "garo-" + badNameChars.ReplaceAllString(runner, "-")
}

// Create pulls the image as the pull policy says, creates the container and starts it.
// It returns once the engine has started the process (StateRunning) or reports why not.
// When the start fails, the container is removed and the error carries the last lines of
// its log.
func (p *Provider) Create(ctx context.Context, req provider.RunnerRequest) (provider.Instance, error) {
	if req.Name == "" {
		return provider.Instance{}, fmt.Errorf("docker: %w: empty runner name", provider.ErrInvalidRequest)
	}
	cfg, host, err := p.containerConfig(req)
	if err != nil {
		return provider.Instance{}, fmt.Errorf("docker: create %s: %w: %w", req.Name, provider.ErrInvalidRequest, err)
	}
	if err := p.ensureImage(ctx, cfg.Image); err != nil {
		return provider.Instance{}, fmt.Errorf("docker: create %s: %w", req.Name, err)
	}
	created, err := p.eng.ContainerCreate(ctx, cfg, host, nil, nil, containerName(req.Name))
	if cerrdefs.IsNotFound(err) && p.imagePresent(cfg.Image) {
		// The image went since it was last seen (ensureImage took it as present).
		p.markImage(cfg.Image, false)
		if err := p.ensureImage(ctx, cfg.Image); err != nil {
			return provider.Instance{}, fmt.Errorf("docker: create %s: %w", req.Name, err)
		}
		created, err = p.eng.ContainerCreate(ctx, cfg, host, nil, nil, containerName(req.Name))
	}
	if err != nil {
		return provider.Instance{}, fmt.Errorf("docker: create container for %s: %w", req.Name, err)
	}
	id := created.ID
	log := p.log.With("runner", req.Name, "provider_id", shortID(id))
	if err := p.eng.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		// Clean up even when ctx ended: the container carries the labels, so the orphan
		// sweep would find it otherwise, but there is no reason to leave it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		tail := p.logTail(cctx, id, req.Env[provider.EnvJITConfig])
		if rmErr := p.eng.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); rmErr != nil && !cerrdefs.IsNotFound(rmErr) {
			log.Warn("remove container after failed start", "err", rmErr)
		}
		if ctx.Err() != nil {
			return provider.Instance{}, ctx.Err()
		}
		log.Warn("container failed to start", "err", err, "log_tail", tail)
		return provider.Instance{}, fmt.Errorf("docker: start container for %s: %w%s", req.Name, err, tailSuffix(tail))
	}
	inst, err := p.State(ctx, id)
	if err != nil {
		return provider.Instance{}, fmt.Errorf("docker: inspect %s after start: %w", req.Name, err)
	}
	if inst.State == provider.StateGone { // removed behind our back in between
		return provider.Instance{}, fmt.Errorf("docker: container for %s vanished after start", req.Name)
	}
	log.Debug("container started", "state", inst.State)
	return inst, nil
}

// containerConfig maps a request to the engine's container and host configuration.
func (p *Provider) containerConfig(req provider.RunnerRequest) (*container.Config, *container.HostConfig, error) {
	s := req.Spec
	if strings.TrimSpace(s.Image) == "" {
		return nil, nil, errors.New("empty image")
	}
	if _, err := reference.ParseNormalizedNamed(s.Image); err != nil {
		return nil, nil, fmt.Errorf("image %q: %w", s.Image, err)
	}
	cpus, err := nanoCPUs(s.CPU)
	if err != nil {
		return nil, nil, err
	}
	mem, err := memoryBytes(s.Memory)
	if err != nil {
		return nil, nil, err
	}
	env := maps.Clone(s.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, req.Env)
	envList := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, nil, fmt.Errorf("environment variable name %q", k)
		}
		envList = append(envList, k+"="+env[k])
	}
	cmd := s.Command
	if len(cmd) == 0 {
		cmd = DefaultCommand
	}
	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if labels[provider.LabelManagedBy] == "" {
		labels[provider.LabelManagedBy] = provider.ManagedByGaro
	}
	if labels[provider.LabelRunner] == "" {
		labels[provider.LabelRunner] = req.Name
	}
	network := p.cfg.NetworkMode
	if s.Docker != nil && s.Docker.NetworkMode != "" {
		network = s.Docker.NetworkMode
	}
	cfg := &container.Config{
		Image:  s.Image,
		Env:    envList,
		Labels: labels,
		// The command replaces the image's entrypoint, and with it the image's Cmd: what
		// runs is exactly cmd. No secret goes here.
		Entrypoint: slices.Clone(cmd),
		Cmd:        nil,
	}
	mounts, err := p.mounts(s.Docker)
	if err != nil {
		return nil, nil, err
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(network),
		Resources:   container.Resources{NanoCPUs: cpus, Memory: mem},
		Mounts:      mounts,
	}
	if mem > 0 {
		host.MemorySwap = mem // no swap on top of the limit
	}
	return cfg, host, nil
}

// Delete stops the container (SIGTERM, then SIGKILL after StopTimeout) and removes it
// with its anonymous volumes. A missing container, or one not managed by Garo, is
// success: the latter is left alone.
func (p *Provider) Delete(ctx context.Context, id string) error {
	info, err := p.eng.ContainerInspect(ctx, id)
	switch {
	case cerrdefs.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("docker: delete %s: inspect: %w", shortID(id), err)
	case info.Config == nil || info.Config.Labels[provider.LabelManagedBy] != provider.ManagedByGaro:
		p.log.Warn("not deleting a container that Garo does not manage", "provider_id", shortID(id))
		return nil
	}
	if info.State != nil && (info.State.Running || info.State.Restarting || info.State.Paused) {
		secs := int(p.cfg.StopTimeout.Round(time.Second) / time.Second)
		if err := p.eng.ContainerStop(ctx, info.ID, container.StopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Remove with Force kills it anyway.
			p.log.Info("stop container failed, removing by force", "provider_id", shortID(id), "err", err)
		}
	}
	err = p.eng.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil // another Delete is removing it
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("docker: delete %s: remove: %w", shortID(id), err)
}

// List returns the Garo containers whose labels include selector, in any state, oldest
// first. The engine filters by label; the managed-by label is always part of the filter.
func (p *Provider) List(ctx context.Context, selector map[string]string) ([]provider.Instance, error) {
	args := filters.NewArgs()
	sel := maps.Clone(selector)
	if sel == nil {
		sel = map[string]string{}
	}
	if v, ok := sel[provider.LabelManagedBy]; ok && v != provider.ManagedByGaro {
		return nil, nil // nothing of another manager is ours to report
	}
	sel[provider.LabelManagedBy] = provider.ManagedByGaro
	for k, v := range sel {
		args.Add("label", k+"="+v)
	}
	list, err := p.eng.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	out := make([]provider.Instance, 0, len(list))
	for _, c := range list {
		if !provider.Matches(c.Labels, sel) { // the engine filtered already; be sure
			continue
		}
		inst, err := p.State(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("docker: list containers: %w", err)
		}
		if inst.State == provider.StateGone { // removed since the listing
			continue
		}
		out = append(out, inst)
	}
	slices.SortFunc(out, func(a, b provider.Instance) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// State inspects one container. A missing container, or one Garo does not manage, is
// StateGone with a nil error.
func (p *Provider) State(ctx context.Context, id string) (provider.Instance, error) {
	info, err := p.eng.ContainerInspect(ctx, id)
	switch {
	case cerrdefs.IsNotFound(err):
		return provider.Instance{ID: id, State: provider.StateGone, Reason: "no such container"}, nil
	case err != nil:
		if ctx.Err() != nil {
			return provider.Instance{}, ctx.Err()
		}
		return provider.Instance{}, fmt.Errorf("docker: inspect %s: %w", shortID(id), err)
	case info.Config == nil || info.Config.Labels[provider.LabelManagedBy] != provider.ManagedByGaro:
		return provider.Instance{ID: id, State: provider.StateGone, Reason: "container is not managed by Garo"}, nil
	}
	inst := provider.Instance{
		ID:     info.ID,
		Name:   info.Config.Labels[provider.LabelRunner],
		Labels: maps.Clone(info.Config.Labels),
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Created); err == nil {
		inst.CreatedAt = t
	}
	st := info.State
	if st == nil {
		inst.State, inst.Reason = provider.StateCreated, "engine reported no state"
		return inst, nil
	}
	switch st.Status {
	case container.StateCreated:
		inst.State = provider.StateCreated
		if st.Error != "" { // a failed start leaves the container in "created"
			inst.Reason = "start failed: " + st.Error + tailSuffix(p.logTail(ctx, info.ID, secretOf(info.Config.Env)))
		}
	case container.StateRunning, container.StateRestarting, container.StatePaused:
		inst.State = provider.StateRunning
		if st.Status != container.StateRunning {
			inst.Reason = string(st.Status)
		}
	default: // exited, dead, removing
		inst.State, inst.ExitCode = provider.StateExited, st.ExitCode
		inst.Reason = exitReason(st)
		if st.ExitCode != 0 || st.OOMKilled || st.Error != "" {
			inst.Reason += tailSuffix(p.logTail(ctx, info.ID, secretOf(info.Config.Env)))
		}
	}
	return inst, nil
}

// exitMeanings are the actions runner's exit codes.
var exitMeanings = map[int]string{
	0: "done",
	1: "terminated",
	2: "retryable",
	5: "session conflict",
	7: "outdated",
}

func exitReason(st *container.State) string {
	meaning, ok := exitMeanings[st.ExitCode]
	if !ok {
		meaning = "unknown exit code"
	}
	r := fmt.Sprintf("exited %d (%s)", st.ExitCode, meaning)
	if st.OOMKilled {
		r += ", OOMKilled"
	}
	if st.Error != "" {
		r += ": " + st.Error
	}
	return r
}

// secretOf returns the JIT config from a container's environment, to keep it out of
// log tails.
func secretOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, provider.EnvJITConfig+"="); ok {
			return v
		}
	}
	return ""
}

func tailSuffix(tail string) string {
	if tail == "" {
		return ""
	}
	return "; last log lines:\n" + tail
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// mounts maps the spec's volumes: a name is a named volume (the engine creates it when
// missing; it outlives the container, a cache shared by the runners that mount it), an
// absolute path a bind mount of the host, only below Config.AllowedBindPaths.
func (p *Provider) mounts(d *spec.DockerSpec) ([]mount.Mount, error) {
	if d == nil {
		return nil, nil
	}
	var out []mount.Mount
	for _, v := range d.Volumes {
		m := mount.Mount{Type: mount.TypeVolume, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		if strings.HasPrefix(v.Source, "/") {
			if !p.bindAllowed(v.Source) {
				allowed := "none"
				if len(p.cfg.AllowedBindPaths) > 0 {
					allowed = strings.Join(p.cfg.AllowedBindPaths, ", ")
				}
				return nil, fmt.Errorf("volume %s → %s: host paths outside provider.docker.allowed_bind_paths (%s) are not mounted on this agent", v.Source, v.Target, allowed)
			}
			m.Type = mount.TypeBind
		}
		out = append(out, m)
	}
	return out, nil
}

// bindAllowed reports whether host path src is one of the allowed bind paths or below one.
func (p *Provider) bindAllowed(src string) bool {
	src = path.Clean(src)
	for _, b := range p.cfg.AllowedBindPaths {
		if src == b || strings.HasPrefix(src, strings.TrimSuffix(b, "/")+"/") {
			return true
		}
	}
	return false
}
