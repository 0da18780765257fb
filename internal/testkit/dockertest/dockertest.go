// Package dockertest is the Docker side of Garo's tests: a connection to the real engine
// that skips loudly (or fails under CI=true) when none answers, static binaries built for
// FROM-scratch images, and images built through the engine API from an in-memory context
// (nothing is ever pulled). Tests only: no binary imports it.
package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/garo-dev/garo/internal/imagebuild"
)

// Engine connects to the engine where the docker CLI would look (DOCKER_HOST, else the
// local socket). When none answers it skips with a loud message naming what did not run,
// or fails when CI=true (.ci/run starts dockerd there).
func Engine(t testing.TB, what string) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("\n\n*** NO DOCKER ENGINE: %s did NOT run (%v).\n*** Start dockerd (see .ci/run) to run them.\n", what, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// BuildStatic builds the Go package pkg (a path relative to the test's directory) as a
// static binary (CGO_ENABLED=0) and returns its bytes.
func BuildStatic(pkg string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "garo-static-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out := filepath.Join(dir, "bin")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

// File is one file of an image's build context.
type File = imagebuild.File

// BuildImage builds the image ref from files with the classic builder (imagebuild.Build).
func BuildImage(ctx context.Context, cli *client.Client, ref string, files ...File) error {
	return imagebuild.Build(ctx, cli, ref, files...)
}
