package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/spec"
)

// stubEngine is an Engine without a daemon. With hang, every call waits until its context
// ends and returns the context's error, as the client does against an engine that
// accepts connections and never answers. Otherwise each call returns fail (nil: success
// with an empty answer), except ContainerStart, which returns startErr. It records the
// calls it got.
type stubEngine struct {
	hang     bool
	fail     error
	startErr error
	logs     string // ContainerLogs answers it on stdout, multiplexed as the engine does
	// createErrs are the answers of the next ContainerCreate calls, one each, before fail;
	// imageErr, when set, is ImageInspect's.
	createErrs []error
	imageErr   error

	mu    sync.Mutex
	calls []string
}

func (e *stubEngine) call(ctx context.Context, name string) error {
	e.mu.Lock()
	e.calls = append(e.calls, name)
	e.mu.Unlock()
	if e.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return e.fail
}

func (e *stubEngine) called() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

func (e *stubEngine) ContainerCreate(ctx context.Context, _ *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, _ string) (container.CreateResponse, error) {
	err := e.call(ctx, "ContainerCreate")
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.createErrs) > 0 && err == nil {
		err, e.createErrs = e.createErrs[0], e.createErrs[1:]
	}
	return container.CreateResponse{ID: "c1"}, err
}

func (e *stubEngine) ContainerStart(ctx context.Context, _ string, _ container.StartOptions) error {
	if err := e.call(ctx, "ContainerStart"); err != nil {
		return err
	}
	return e.startErr
}

func (e *stubEngine) ContainerStop(ctx context.Context, _ string, _ container.StopOptions) error {
	return e.call(ctx, "ContainerStop")
}

func (e *stubEngine) ContainerRemove(ctx context.Context, _ string, _ container.RemoveOptions) error {
	return e.call(ctx, "ContainerRemove")
}

func (e *stubEngine) ContainerInspect(ctx context.Context, _ string) (container.InspectResponse, error) {
	return container.InspectResponse{}, e.call(ctx, "ContainerInspect")
}

func (e *stubEngine) ContainerList(ctx context.Context, _ container.ListOptions) ([]container.Summary, error) {
	return nil, e.call(ctx, "ContainerList")
}

func (e *stubEngine) ContainerLogs(ctx context.Context, _ string, _ container.LogsOptions) (io.ReadCloser, error) {
	if err := e.call(ctx, "ContainerLogs"); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := stdcopy.NewStdWriter(&buf, stdcopy.Stdout).Write([]byte(e.logs)); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

func (e *stubEngine) ImageInspect(ctx context.Context, _ string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if err := e.call(ctx, "ImageInspect"); err != nil {
		return image.InspectResponse{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return image.InspectResponse{}, e.imageErr
}

func (e *stubEngine) ImagePull(ctx context.Context, _ string, _ image.PullOptions) (io.ReadCloser, error) {
	if err := e.call(ctx, "ImagePull"); err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (e *stubEngine) Ping(ctx context.Context) (types.Ping, error) {
	return types.Ping{}, e.call(ctx, "Ping")
}

func (e *stubEngine) DaemonHost() string { return "tcp://engine.test:2376" }

func stubRequest() provider.RunnerRequest {
	return provider.RunnerRequest{
		Name: "r1", Repository: "acme/app", Policy: "default",
		Labels: map[string]string{provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelRunner: "r1"},
		Spec:   spec.RunnerSpec{Image: "runner:1"},
		Env:    map[string]string{provider.EnvJITConfig: "jit-secret"},
	}
}

// An engine that accepts connections and never answers: every call of the provider
// returns its context's error once the context ends, promptly, and Open gives up after
// its timeout with a sentence naming the engine and the key.
func TestHungEngine(t *testing.T) {
	t.Parallel()
	eng := &stubEngine{hang: true}
	p, err := New(eng, Config{PullPolicy: PullNever}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const bound = 100 * time.Millisecond
	for name, call := range map[string]func(context.Context) error{
		"Create": func(ctx context.Context) error { _, err := p.Create(ctx, stubRequest()); return err },
		"Delete": func(ctx context.Context) error { return p.Delete(ctx, "c1") },
		"List":   func(ctx context.Context) error { _, err := p.List(ctx, nil); return err },
		"State":  func(ctx context.Context) error { _, err := p.State(ctx, "c1"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), bound)
			defer cancel()
			start := time.Now()
			err := call(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a hung engine = %v, want context.DeadlineExceeded", name, err)
			}
			if took > bound+2*time.Second {
				t.Errorf("%s returned %s after its context ended", name, took-bound)
			}
			if err != nil && strings.Contains(err.Error(), "jit-secret") {
				t.Errorf("%s error quotes the JIT config: %v", name, err)
			}
		})
	}
	t.Run("Open", func(t *testing.T) {
		t.Parallel()
		_, err := open(t.Context(), &stubEngine{hang: true}, Config{Host: "tcp://engine.test:2376"}.withDefaults(), slog.New(slog.DiscardHandler), bound)
		want := "provider.type is docker but no Docker engine answers at tcp://engine.test:2376 (provider.docker.host): no answer within 100ms: "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("open on a hung engine = %v\nwant the prefix %q", err, want)
		}
	})
}

// An engine that answers every call with an error: the provider passes it on, wrapped
// and naming what failed, never reports a container gone because the engine failed, and
// removes a container whose start failed.
func TestFailingEngine(t *testing.T) {
	t.Parallel()
	boom := errors.New("engine on fire")
	log := slog.New(slog.DiscardHandler)
	p, err := New(&stubEngine{fail: boom}, Config{PullPolicy: PullIfMissing}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := p.Create(ctx, stubRequest()); !errors.Is(err, boom) || !strings.Contains(err.Error(), "r1") {
		t.Errorf("Create = %v, want the engine's error naming the runner", err)
	}
	if list, err := p.List(ctx, nil); !errors.Is(err, boom) || list != nil {
		t.Errorf("List = %v, %v; want the engine's error and no instances", list, err)
	}
	if in, err := p.State(ctx, "c1"); !errors.Is(err, boom) || in.State == provider.StateGone {
		t.Errorf("State = %+v, %v; want the engine's error, not gone", in, err)
	}
	if err := p.Delete(ctx, "c1"); !errors.Is(err, boom) {
		t.Errorf("Delete = %v, want the engine's error", err)
	}
	if _, err := open(ctx, &stubEngine{fail: boom}, DefaultConfig(), log, time.Second); !errors.Is(err, boom) ||
		!strings.HasPrefix(err.Error(), "provider.type is docker but no Docker engine answers at tcp://engine.test:2376 (") {
		t.Errorf("open on a failing engine = %v", err)
	}

	// The image is there and the container is created, but the engine refuses to start
	// it: Create fails and removes the container it made.
	startFails := &stubEngine{startErr: errors.New("no such network")}
	p, err = New(startFails, Config{PullPolicy: PullNever}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(ctx, stubRequest()); err == nil || !strings.Contains(err.Error(), "no such network") {
		t.Errorf("Create with a failing start = %v", err)
	}
	want := []string{"ImageInspect", "ContainerCreate", "ContainerStart", "ContainerLogs", "ContainerRemove"}
	if got := startFails.called(); !slices.Equal(got, want) {
		t.Errorf("engine calls = %v, want %v", got, want)
	}
}

// Validate names each bad value by its provider.docker key; New refuses what Validate
// refuses.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for key, mut := range map[string]func(*Config){
		"provider.docker.host":               func(c *Config) { c.Host = "http://x" },
		"provider.docker.pull_policy":        func(c *Config) { c.PullPolicy = "sometimes" },
		"provider.docker.stop_timeout":       func(c *Config) { c.StopTimeout = time.Hour },
		"provider.docker.log_tail_lines":     func(c *Config) { c.LogTailLines = 5000 },
		"provider.docker.network_mode":       func(c *Config) { c.NetworkMode = "no spaces" },
		"provider.docker.allowed_bind_paths": func(c *Config) { c.AllowedBindPaths = []string{"relative/dir"} },
	} {
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), key+": ") || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: Validate = %v, want one error naming the key", key, err)
		}
		if _, err := New(nil, c, nil, nil); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: New = %v, want the validation error", key, err)
		}
	}
}

// A burst's creations ask the engine for the image once, not once each; a create that
// finds the image gone after all asks again, and fails as the pull policy says (here:
// never pull, ErrImageMissing) rather than with the engine's bare "no such image".
func TestImageFoundOnce(t *testing.T) {
	t.Parallel()
	eng := &stubEngine{}
	p, err := New(eng, Config{PullPolicy: PullNever}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inspects := func() int {
		n := 0
		for _, c := range eng.called() {
			if c == "ImageInspect" {
				n++
			}
		}
		return n
	}
	for range 3 {
		// (The stub's containers vanish after their start: Create fails after it.)
		if _, err := p.Create(t.Context(), stubRequest()); err == nil || errors.Is(err, ErrImageMissing) {
			t.Fatalf("create = %v, want it past the image and the container's creation", err)
		}
	}
	if n := inspects(); n != 1 {
		t.Fatalf("image inspected %d times for 3 creations, want 1 (calls %v)", n, eng.called())
	}
	gone := fmt.Errorf("no such image: runner:1: %w", cerrdefs.ErrNotFound)
	eng.mu.Lock()
	eng.createErrs, eng.imageErr = []error{gone}, gone
	eng.mu.Unlock()
	_, err = p.Create(t.Context(), stubRequest())
	if !errors.Is(err, ErrImageMissing) {
		t.Fatalf("create after the image went = %v, want %v", err, ErrImageMissing)
	}
	if n := inspects(); n != 2 {
		t.Errorf("image inspected %d times, want 2 (once more after the create found it gone)", n)
	}
}
