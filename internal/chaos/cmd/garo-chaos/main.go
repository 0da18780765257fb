// Command garo-chaos runs the chaos suite (package internal/chaos): `make chaos` runs the
// small schedule, `make chaos CHAOS=full` the full one with 1,000 jobs. It exits 1 when
// a job was lost or run twice, max_runners was exceeded or anything was left orphaned.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/garo-dev/garo/internal/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "garo-chaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	schedule := flag.String("schedule", "small", "small (CI) or full")
	bin := flag.String("bin", "bin", "directory of the static garo-server, garo-agent, garo-githubsim and garo-stub-runner")
	dockerfile := flag.String("dockerfile", "deployments/stub-runner/Dockerfile", "the stub runner's Dockerfile")
	dir := flag.String("dir", "", "logs and configuration (default: a new temporary directory)")
	jobs := flag.Int("jobs", 0, "jobs in the burst (default: 60 small, 1000 full)")
	maxRunners := flag.Int("max-runners", 0, "the policy's max_runners (default: 5 small, 10 full)")
	work := flag.Duration("work", 0, "each job's run time (default: 3s small, 2s full)")
	flag.Parse()

	sched, err := chaos.Schedule(*schedule)
	if err != nil {
		return err
	}
	o := chaos.Options{Schedule: sched, Jobs: *jobs, MaxRunners: *maxRunners, Work: *work, Bin: *bin}
	if *schedule == "full" {
		o.Jobs, o.MaxRunners = or(o.Jobs, 1000), or(o.MaxRunners, 10)
		o.Deadline = 30 * time.Minute
		if o.Work == 0 {
			o.Work = 2 * time.Second
		}
	}
	if o.Dockerfile, err = os.ReadFile(*dockerfile); err != nil {
		return err
	}
	if o.Dir = *dir; o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "garo-chaos-"); err != nil {
			return err
		}
	}
	fmt.Printf("chaos: schedule %s; logs in %s\n", *schedule, o.Dir)
	_, err = chaos.Run(ctx, o)
	return err
}

func or(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
