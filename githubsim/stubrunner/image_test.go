package stubrunner_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/garo-dev/garo/githubsim/stubrunner"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/dockertest"
)

// engine connects to the Docker engine, or skips (fails under CI=true) when none answers.
func engine(t *testing.T) *client.Client {
	return dockertest.Engine(t, "the stub runner image tests")
}

// startRunner starts a container of ref with the JIT config in its environment, on the
// host's network (the sim listens on 127.0.0.1), with the image's own command — the same
// /home/runner/run.sh the Docker provider runs by default.
func startRunner(t *testing.T, cli *client.Client, ref string, env ...string) string {
	t.Helper()
	ctx := ctxT(t)
	c, err := cli.ContainerCreate(ctx,
		&container.Config{Image: ref, Env: env, Labels: map[string]string{"garo-test": "stub-runner"}},
		&container.HostConfig{NetworkMode: "host"}, nil, nil, "")
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.WithoutCancel(t.Context()), c.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
	return c.ID
}

// exitCode waits for the container to exit and returns its code and log.
func exitCode(t *testing.T, cli *client.Client, id string) (int64, string) {
	t.Helper()
	ctx := ctxT(t)
	waitC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		t.Fatalf("wait container: %v", err)
	}
	var logs bytes.Buffer
	if rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
		_, _ = io.Copy(&logs, rc)
		_ = rc.Close()
	}
	return code, logs.String()
}

// TestImage runs the stub runner image the way the Docker provider does.
func TestImage(t *testing.T) {
	cli := engine(t)
	ref := dockertest.StubImage(t, cli)

	t.Run("runs one job", func(t *testing.T) {
		e := newEnv(t)
		jobID := e.queueJob(t)
		id, cfg := e.jitRunner(t, "docker-1")
		cid := startRunner(t, cli, ref, stubrunner.EnvJITConfig+"="+cfg, "GARO_STUB_WORK=10ms")
		if code, logs := exitCode(t, cli, cid); code != stubrunner.ExitDone {
			t.Fatalf("exit code %d, want 0; log:\n%s", code, logs)
		}
		if job, _ := e.sim.Job(jobID); job.Status != "completed" || job.Conclusion != "success" || job.RunnerID != id {
			t.Errorf("job = %s/%s on runner %d, want completed/success on %d", job.Status, job.Conclusion, job.RunnerID, id)
		}
		if _, ok := e.runner(id); ok {
			t.Error("ephemeral runner still registered")
		}
	})

	t.Run("missing config", func(t *testing.T) {
		cid := startRunner(t, cli, ref)
		if code, logs := exitCode(t, cli, cid); code != stubrunner.ExitTerminated {
			t.Fatalf("exit code %d, want 1; log:\n%s", code, logs)
		}
	})

	t.Run("docker stop while hanging", func(t *testing.T) {
		e := newEnv(t)
		id, cfg := e.jitRunner(t, "docker-hang")
		cid := startRunner(t, cli, ref, stubrunner.EnvJITConfig+"="+cfg, "GARO_STUB_HANG=1")
		testkit.Eventually(t, 30*time.Second, "the runner online", func() bool {
			r, ok := e.runner(id)
			return ok && r.Status == "online"
		})
		timeout := 10
		if err := cli.ContainerStop(ctxT(t), cid, container.StopOptions{Timeout: &timeout}); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if code, logs := exitCode(t, cli, cid); code != stubrunner.ExitTerminated {
			t.Fatalf("exit code %d, want 1 (SIGTERM handled, not SIGKILL's 137); log:\n%s", code, logs)
		}
		if r, ok := e.runner(id); !ok || r.Status != "offline" {
			t.Errorf("runner = %+v (registered %v), want offline", r, ok)
		}
	})
}
