// Package demo is `make demo`: garo-server on SQLite, the GitHub simulator and garo-agent
// on a real Docker engine, all on 127.0.0.1 in one process, with the stub runner image
// built FROM scratch. It creates a policy, sends a burst of queued jobs, shows runners
// coming and going while they work, and ends with a summary: jobs run, the time from the
// webhook to the runner being online, and the peak number of runners against the
// policy's maximum. The same scenario runs in CI as a test.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	dockerclient "github.com/docker/docker/client"
)

// Options shape one demo run. Zero values take the defaults in brackets.
type Options struct {
	Jobs       int           // jobs in the burst [12]
	MaxRunners int           // the policy's max_runners [4]
	Work       time.Duration // how long each job runs in its runner [2s]
	IdleGrace  time.Duration // the policy's idle_grace [3s]
	Plain      int           // plain `docker run`s of the same image, for comparison [5]

	// StubRunner is the static garo-stub-runner binary (CGO_ENABLED=0) and
	// StubDockerfile deployments/stub-runner/Dockerfile: the image is built from them.
	StubRunner     []byte
	StubDockerfile []byte

	// DockerHost is the engine's address; "" means DOCKER_HOST, else the local socket.
	DockerHost string
	// Dir holds the database, the App key, the agent's state file and demo.log (the
	// components' logs). Required.
	Dir string

	Out  io.Writer // the progress view and the summary [os.Stdout]
	Live bool      // Out is a terminal: redraw the status line in place
	// Keep leaves the server, the simulator and the agent running after the summary,
	// printing how to reach them, until ctx ends; Run then returns the summary and nil.
	// It also prints the admin token with the console's address before the burst.
	Keep bool
	// BurstDelay is how long the demo waits, with everything running, before it sends the
	// burst: time to open the web console and watch the burst live [0].
	BurstDelay time.Duration
}

func (o *Options) defaults() error {
	if o.Jobs == 0 {
		o.Jobs = 12
	}
	if o.MaxRunners == 0 {
		o.MaxRunners = 4
	}
	if o.Work == 0 {
		o.Work = 2 * time.Second
	}
	if o.IdleGrace == 0 {
		o.IdleGrace = 3 * time.Second
	}
	if o.Plain == 0 {
		o.Plain = 5
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	switch {
	case o.Jobs < 1 || o.Jobs > 500:
		return fmt.Errorf("jobs: %d is not between 1 and 500", o.Jobs)
	case o.MaxRunners < 1 || o.MaxRunners > 50:
		return fmt.Errorf("max runners: %d is not between 1 and 50", o.MaxRunners)
	case o.Work < 0 || o.IdleGrace < 0 || o.Plain < 0 || o.BurstDelay < 0:
		return errors.New("work, idle grace, plain runs and the burst delay must not be negative")
	case len(o.StubRunner) == 0 || len(o.StubDockerfile) == 0:
		return errors.New("the stub runner binary and its Dockerfile are required")
	case o.Dir == "":
		return errors.New("a working directory is required")
	}
	return nil
}

// ErrNoEngine is wrapped by Run's error when no Docker engine answers; that error's
// message is one sentence that says what is missing.
var ErrNoEngine = errors.New("no Docker engine answered")

// Run runs the demo and returns its summary, also printed on Out. It removes what it
// created (containers, the image) before it returns, also when ctx ends early.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cli, err := connect(ctx, o.DockerHost)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cli.Close() }() // nothing is left to do with the engine

	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	logPath := filepath.Join(o.Dir, "demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer func() { _ = logFile.Close() }() // the demo's result does not hang on its log
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	v := newView(o.Out, o.Live)
	v.linef("Garo demo: garo-server (SQLite), the GitHub simulator and garo-agent on Docker, on 127.0.0.1")
	v.linef("component logs: %s", logPath)

	r := &run{o: o, cli: cli, log: log, view: v}
	defer r.cleanup()
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	if o.BurstDelay > 0 {
		v.linef("the burst of %d jobs starts in %s: open the web console to watch it", o.Jobs, o.BurstDelay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("demo: %w", ctx.Err())
		case <-time.After(o.BurstDelay):
		}
	}
	// One untimed create + start of the image first: the first container of a freshly
	// built image costs the engine more (its layers are prepared once), and the burst,
	// which runs before the plain runs it is compared with, paid for that alone (issue 15:
	// 754 ms against 307 ms in one quick bench).
	if _, err := plainRun(ctx, cli, r.image); err != nil {
		return nil, fmt.Errorf("demo: warm-up run of %s: %w", r.image, err)
	}
	sum, err := r.burst(ctx)
	if err != nil {
		return sum, err
	}
	if !o.Keep {
		r.stop()
	}
	sum.Plain, sum.PlainParallel, err = plainRuns(ctx, cli, r.image, o.Plain, o.MaxRunners)
	if err != nil {
		return sum, fmt.Errorf("demo: plain docker run: %w", err)
	}
	sum.write(o.Out)
	if o.Keep {
		r.explore(o.Out)
		<-ctx.Done() // the caller's way to end it
	}
	return sum, nil
}

// connect opens the engine and pings it, so that a missing engine is one clear sentence.
func connect(ctx context.Context, host string) (*dockerclient.Client, error) {
	opts := []dockerclient.Opt{dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, dockerclient.WithHost(host))
	}
	cli, err := dockerclient.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: the Docker address is not usable (%v), and the demo needs a running engine (start Docker, or point DOCKER_HOST at one)", ErrNoEngine, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pingCtx); err != nil {
		_ = cli.Close() // the ping's failure is the one to report
		return nil, fmt.Errorf("%w at %s, and the demo needs a running one (start Docker, or point DOCKER_HOST at an engine)", ErrNoEngine, cli.DaemonHost())
	}
	return cli, nil
}
