// Package dockertest is the Docker side of Garo's tests: a connection to the real engine
// that skips loudly (or fails under CI=true) when none answers, static binaries built for
// FROM-scratch images, and images built through the engine API from an in-memory context
// (nothing is ever pulled). Tests only: no binary imports it.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
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
type File struct {
	Name string
	Mode int64
	Data []byte
}

// BuildImage builds the image ref from a context holding files (a Dockerfile among them),
// with the classic builder, and returns the build's first error.
func BuildImage(ctx context.Context, cli *client.Client, ref string, files ...File) error {
	var buildCtx bytes.Buffer
	tw := tar.NewWriter(&buildCtx)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buildCtx, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := firstError(resp.Body); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	return nil
}

// firstError returns the first error of the engine's build progress stream.
func firstError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
