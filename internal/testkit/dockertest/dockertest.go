// Package dockertest is the Docker side of Garo's tests: a connection to the real engine
// that skips loudly (or fails under CI=true) when none answers, static binaries built for
// FROM-scratch images, images built through the engine API from an in-memory context
// (nothing is ever pulled), and the stub runner's image among them. Tests only: no
// production binary imports it.
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
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
	out := filepath.Join(dir, "bin")
	// "go" is the toolchain running the test: go test puts its GOROOT/bin first on PATH.
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
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

// stubPackage is the stub runner's command; stubDockerfile its image's Dockerfile, from
// the module's root.
const (
	stubPackage    = "github.com/garo-dev/garo/githubsim/cmd/garo-stub-runner"
	stubDockerfile = "deployments/stub-runner/Dockerfile"
)

// StubRunner returns what the stub runner image is built from, as `make stub-image`
// builds it: the static garo-stub-runner binary and deployments/stub-runner/Dockerfile.
func StubRunner() (binary, dockerfile []byte, err error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, nil, err
	}
	if dockerfile, err = os.ReadFile(filepath.Join(root, stubDockerfile)); err != nil {
		return nil, nil, err
	}
	if binary, err = BuildStatic(stubPackage); err != nil {
		return nil, nil, err
	}
	return binary, dockerfile, nil
}

// StubImage builds the stub runner image (StubRunner) under a tag of its own, with extra
// lines (such as ENV instructions) appended to the Dockerfile, and removes it when the
// test ends.
func StubImage(t testing.TB, cli *client.Client, extra ...string) string {
	t.Helper()
	binary, dockerfile, err := StubRunner()
	if err != nil {
		t.Fatalf("dockertest: the stub runner: %v", err)
	}
	for _, l := range extra {
		dockerfile = append(dockerfile, "\n"+l+"\n"...)
	}
	ref := fmt.Sprintf("garo-test/stub-runner:%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := BuildImage(ctx, cli, ref,
		File{Name: "Dockerfile", Mode: 0o644, Data: dockerfile},
		File{Name: "garo-stub-runner", Mode: 0o755, Data: binary}); err != nil {
		t.Fatalf("dockertest: build %s: %v", ref, err)
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.WithoutCancel(t.Context()), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// moduleRoot is the directory of the go.mod above the test's working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("dockertest: no go.mod above the working directory")
		}
		dir = parent
	}
}
