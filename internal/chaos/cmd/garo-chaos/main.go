// Command garo-chaos runs the chaos suite (package internal/chaos): `make chaos` runs the
// small schedule, `make chaos CHAOS=full` the full one with 1,000 jobs, `make chaos
// CHAOS=outage` the 60 s outage with capacity to spare. It exits 1 when a job was lost or
// run twice, max_runners was exceeded, anything was left orphaned, the job log disagreed
// with GitHub after settling, or (outage) a recovery target was missed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	schedule := flag.String("schedule", "small", "small (CI), full (1,000 jobs) or outage (the 60 s outage with capacity to spare, recovery targets checked)")
	bin := flag.String("bin", "bin", "directory of the static garo-server, garo-agent, garo-githubsim and garo-stub-runner")
	dockerfile := flag.String("dockerfile", "deployments/stub-runner/Dockerfile", "the stub runner's Dockerfile")
	dir := flag.String("dir", "", "logs and configuration (default: a new temporary directory)")
	jobs := flag.Int("jobs", 0, "jobs in the burst (default: 60 small, 1000 full, 10 outage)")
	outageJobs := flag.Int("outage-jobs", 0, "jobs queued while both replicas are down (default: 20)")
	maxRunners := flag.Int("max-runners", 0, "the policy's max_runners (default: 5 small, 10 full, 30 outage)")
	work := flag.Duration("work", 0, "each job's run time (default: 3s small and outage, 2s full)")
	flag.Parse()

	o, err := chaos.Preset(*schedule)
	if err != nil {
		return err
	}
	o.Jobs, o.OutageJobs, o.MaxRunners = or(*jobs, o.Jobs), or(*outageJobs, o.OutageJobs), or(*maxRunners, o.MaxRunners)
	if *work != 0 {
		o.Work = *work
	}
	o.Bin = *bin
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
