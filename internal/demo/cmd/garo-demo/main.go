// Command garo-demo runs Garo's demo (package demo): garo-server, the GitHub simulator
// and garo-agent on the local Docker engine, a burst of jobs, and a summary. `make demo`
// builds the stub runner and runs it from the repository's root:
//
//	garo-demo --stub-runner bin/garo-stub-runner [--jobs 12] [--max-runners 4] [--work 2s] [--keep] [--burst-delay 20s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/garo-dev/garo/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "garo-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("garo-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := demo.Options{}
	fs.IntVar(&o.Jobs, "jobs", 12, "jobs in the burst")
	fs.IntVar(&o.MaxRunners, "max-runners", 4, "the policy's max_runners")
	fs.DurationVar(&o.Work, "work", 2*time.Second, "how long each job runs")
	fs.DurationVar(&o.IdleGrace, "idle-grace", 3*time.Second, "the policy's idle_grace")
	fs.IntVar(&o.Plain, "plain-runs", 5, "plain docker runs of the same image, for comparison")
	fs.BoolVar(&o.Keep, "keep", false, "after the summary, keep everything running until Ctrl-C, to look around with garoctl and the web console")
	fs.DurationVar(&o.BurstDelay, "burst-delay", 0, "wait this long before the burst, to open the web console (default 20s with --keep, else 0)")
	stubRunner := fs.String("stub-runner", "bin/garo-stub-runner", "the static garo-stub-runner binary (make bin/garo-stub-runner)")
	dockerfile := fs.String("stub-dockerfile", "deployments/stub-runner/Dockerfile", "the stub runner image's Dockerfile")
	dir := fs.String("dir", ".cache/demo", "working directory: database, agent state, demo.log (emptied first)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.StringVar(&o.DockerHost, "docker-host", "", "the Docker engine (default: DOCKER_HOST, else the local socket)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Keep && !flagSet(fs, "burst-delay") {
		o.BurstDelay = 20 * time.Second
	}
	var err error
	if o.StubRunner, err = os.ReadFile(*stubRunner); err != nil {
		return fmt.Errorf("the stub runner binary: %w (build it with make bin/garo-stub-runner)", err)
	}
	if o.StubDockerfile, err = os.ReadFile(*dockerfile); err != nil {
		return fmt.Errorf("the stub runner Dockerfile: %w", err)
	}
	if o.Dir, err = filepath.Abs(*dir); err != nil {
		return err
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		return err
	}
	o.Out, o.Live = stdout, isTerminal(stdout)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	_, err = demo.Run(ctx, o)
	return err
}

// isTerminal reports whether w is a character device, where the status line can be
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
