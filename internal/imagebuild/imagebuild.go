// Package imagebuild builds a Docker image through the engine API from a build context
// held in memory, with the classic builder, so that images made FROM scratch from our own
// static binaries need neither the docker CLI nor a registry. The Docker tests and the
// demo use it.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// File is one file of an image's build context.
type File struct {
	Name string
	Mode int64
	Data []byte
}

// Build builds the image ref from a context holding files (a Dockerfile among them), with
// the classic builder, and returns the build's first error. Nothing is pulled: a FROM
// naming an image the engine does not have fails the build.
func Build(ctx context.Context, cli client.ImageAPIClient, ref string, files ...File) error {
	var buildCtx bytes.Buffer
	tw := tar.NewWriter(&buildCtx)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data))}); err != nil {
			return fmt.Errorf("build image %s: context: %w", ref, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("build image %s: context: %w", ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build image %s: context: %w", ref, err)
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
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
