package app_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
	"github.com/garo-dev/garo/internal/testkit/simtest"
)

func TestRunWithDockerProviderStarts(t *testing.T) {
	dockertest.Engine(t, "the agent's Docker provider test")
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Provider.Type = "docker"
	cfg.Provider.Docker.PullPolicy = "never"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	log, logs := testkit.TextLogs()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- app.Run(ctx, cfg, log, app.Options{Ready: func(id string, _ net.Addr) { ready <- id }})
	}()
	select {
	case id := <-ready:
		if id == "" {
			t.Error("ready without an agent id")
		}
	case err := <-done:
		cancel()
		t.Fatalf("agent with provider docker stopped before it was ready: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("agent with provider docker not ready\n%s", logs.String())
	}
	// Running: it reports to the server, and its scheduler lists its containers in the
	// engine without error.
	testkit.Eventually(t, patience, "two heartbeats", func() bool {
		hbs, registers, _, _ := fs.snapshot()
		return registers == 1 && len(hbs) >= 2
	})
	if hbs, _, _, _ := fs.snapshot(); hbs[0].Provider != "docker" {
		t.Errorf("heartbeat reports provider %q, want docker", hbs[0].Provider)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
	out := logs.String()
	for _, want := range []string{"docker engine answers", "pull_policy=never", "garo-agent running", "provider=docker"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("errors in the log:\n%s", out)
	}
}

func TestRunWithDockerProviderFailsWithoutEngine(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Provider.Type = "docker"
	sock := "unix://" + filepath.Join(t.TempDir(), "no-engine.sock")
	cfg.Provider.Docker.Host = sock
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	err := app.Run(t.Context(), cfg, testkit.Discard(), app.Options{})
	want := "provider.type is docker but no Docker engine answers at " + sock + " (provider.docker.host): "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Run without an engine: %v\nwant the prefix %q", err, want)
	}
	if _, registers, _, _ := fs.snapshot(); registers != 0 {
		t.Error("the agent registered although its provider cannot work")
	}
	if _, serr := os.Stat(cfg.StateFile); serr == nil {
		t.Error("a failed start left a state file")
	}
}

// An unreadable registry_auth_file stops the agent at start, naming the key, before it
// registers.
func TestRunWithBadRegistryAuthFile(t *testing.T) {
	t.Parallel()
	env := simtest.New(t, githubsim.Options{}, "acme/api")
	fs := newFakeServer(t, env, regToken, smallPolicy(2))
	cfg := baseConfig(t, fs.srv.URL)
	cfg.Provider.Type = "docker"
	cfg.Provider.Docker.Host = "unix://" + filepath.Join(t.TempDir(), "no-engine.sock")
	cfg.Provider.Docker.RegistryAuthFile = filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg.Provider.Docker.RegistryAuthFile, []byte(`{"auths":{"ghcr.io":{"auth":"%%%"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	err := app.Run(t.Context(), cfg, testkit.Discard(), app.Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "provider.docker.registry_auth_file: ") || !strings.Contains(err.Error(), `auths["ghcr.io"].auth`) {
		t.Fatalf("Run with a bad registry auth file: %v", err)
	}
	if _, registers, _, _ := fs.snapshot(); registers != 0 {
		t.Error("the agent registered although its provider cannot work")
	}
}
