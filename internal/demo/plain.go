package demo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"
)

// plainRuns measures `docker run -d` of the same image on the host network without
// Garo: ContainerCreate + ContainerStart, which returns once the container runs. It does
// n runs one after the other, then one round of `parallel` runs at once (as the agent
// starts a burst's first wave). The stub exits at once (GARO_STUB_EXIT_EARLY=0: no JIT
// config to use).
func plainRuns(ctx context.Context, cli *dockerclient.Client, image string, n, parallel int) (seq, par []time.Duration, err error) {
	for range n {
		d, err := plainRun(ctx, cli, image)
		if err != nil {
			return seq, nil, err
		}
		seq = append(seq, d)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := plainRun(ctx, cli, image)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			par = append(par, d)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return seq, par, errs[0]
	}
	return seq, par, nil
}

// plainRun creates and starts one container, returns how long it took until the engine
// had it running, and removes it.
func plainRun(ctx context.Context, cli *dockerclient.Client, image string) (time.Duration, error) {
	t0 := time.Now()
	c, err := cli.ContainerCreate(ctx,
		&container.Config{Image: image, Env: []string{"GARO_STUB_EXIT_EARLY=0"}, Labels: map[string]string{"garo.dev/demo": "plain-run"}},
		&container.HostConfig{NetworkMode: "host"}, nil, nil, "")
	if err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	err = cli.ContainerStart(ctx, c.ID, container.StartOptions{})
	d := time.Since(t0)
	// Up to the engine's State.StartedAt, the moment the burst's runners are timed to,
	// rather than to the start call's answer (which comes a little later).
	if err == nil {
		if info, ierr := cli.ContainerInspect(ctx, c.ID); ierr == nil && info.State != nil {
			if at, perr := time.Parse(time.RFC3339Nano, info.State.StartedAt); perr == nil && at.After(t0) {
				d = at.Sub(t0)
			}
		}
	}
	if rmErr := cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true}); rmErr != nil && err == nil {
		return 0, fmt.Errorf("remove: %w", rmErr)
	}
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	return d, nil
}
