// Command garo-load drives a real garo-server with simulated agents and a stream of
// signed webhook deliveries (package load), or runs the whole bench (package bench):
//
//	garo-load run   [--driver postgres] [--agents 500 --repos 1000 --policies 5000 --rate 200 --duration 5m ...]
//	garo-load bench [--quick] [--duration 5m] [--stub-runner bin/garo-stub-runner]
//
// Both run the hub (the GitHub simulator and garo-server) in a child process, this binary
// again with the hidden subcommand `garo-load hub` (load.ServeHub), so that the server's CPU
// and RSS are measured apart from the load generator's. `make bench` runs the bench;
// docs/performance.md explains the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/garo-dev/garo/internal/load"
	"github.com/garo-dev/garo/internal/load/bench"
	"github.com/garo-dev/garo/internal/testkit/testdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "garo-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: garo-load run|bench [flags]")
	}
	raiseFileLimit()
	if args[0] == "hub" {
		return load.ServeHub(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	hubCommand := []string{self, "hub"}
	dir, err := os.MkdirTemp("", "garo-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	switch args[0] {
	case "run":
		return runOne(ctx, args[1:], dir, hubCommand, stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], dir, hubCommand, stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q: want run or bench", args[0])
	}
}

func runOne(ctx context.Context, args []string, dir string, hubCommand []string, stdout, stderr io.Writer) error {
	o := load.Defaults()
	fs := flag.NewFlagSet("garo-load run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Driver, "driver", o.Driver, "sqlite, or postgres (a throw-away cluster, fsync on, unless --dsn)")
	fs.StringVar(&o.DSN, "dsn", "", "an existing PostgreSQL database to use with --driver postgres")
	fs.IntVar(&o.Agents, "agents", o.Agents, "simulated agents")
	fs.IntVar(&o.Repos, "repos", o.Repos, "repositories")
	fs.IntVar(&o.Policies, "policies", o.Policies, "policies (round-robin over the repositories)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "jobs per second (three deliveries each)")
	fs.IntVar(&o.Senders, "senders", 0, "instead of --rate: closed-loop senders of new jobs' queued, in_progress and completed deliveries (webhook intake)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long jobs are sent")
	fs.Float64Var(&o.Hosted, "hosted", o.Hosted, "hosted jobs (unmatched) per job")
	fs.DurationVar(&o.Work, "work", o.Work, "how long a job runs")
	fs.DurationVar(&o.Heartbeat, "heartbeat", o.Heartbeat, "agents' heartbeat interval")
	fs.IntVar(&o.PolicyChanges, "policy-changes", 0, "policy changes timed until the owning agent sees them")
	fsync := fs.Bool("fsync", true, "the throw-away PostgreSQL cluster runs with fsync on")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (the load generator; with --in-process the whole run) to this file")
	fs.IntVar(&o.GitHubRateLimit, "github-rate-limit", o.GitHubRateLimit, "the simulator's REST calls per hour per installation (0: GitHub's 5,000 in one window, which 200 jobs/s spend in seconds)")
	fs.StringVar(&o.HubPprof, "hub-pprof", "", "the hub process serves net/http/pprof on this loopback address (e.g. 127.0.0.1:6060)")
	inProcess := fs.Bool("in-process", false, "run the hub in this process (its CPU and RSS then include the load generator's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close() // nothing was written
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintf(stderr, "garo-load: write %s: %v\n", *cpuProfile, err)
			}
		}()
	}
	o.Dir, o.Progress = dir, stderr
	if !*inProcess {
		o.HubCommand = hubCommand
	}
	if o.Driver == "postgres" && o.DSN == "" {
		pg, err := testdb.StartCluster(ctx, *fsync)
		if err != nil {
			return err
		}
		defer stopCluster(ctx, pg)
		db, err := pg.NewDatabase(ctx)
		if err != nil {
			return err
		}
		o.DSN, o.DBPID = db.DSN, pg.PID()
	}
	res, err := load.Run(ctx, o)
	if err != nil {
		return err
	}
	res.Print(stdout)
	return nil
}

func runBench(ctx context.Context, args []string, dir string, hubCommand []string, stdout, stderr io.Writer) error {
	o := bench.Options{Dir: dir, Out: stderr, HubCommand: hubCommand}
	fs := flag.NewFlagSet("garo-load bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.Quick, "quick", false, "the small variant CI runs")
	fs.DurationVar(&o.Duration, "duration", 0, "the jobs scenario's sending window (default 60s, 5s with --quick; the target says 5m)")
	fs.StringVar(&o.Repo, "repo", ".", "the checkout to run the go test micro-benchmarks in (\"\" skips them)")
	fs.StringVar(&o.StubRunner, "stub-runner", "", "the garo-stub-runner binary, for the Docker figures (\"\" skips them)")
	fs.StringVar(&o.StubDockerfile, "stub-dockerfile", "deployments/stub-runner/Dockerfile", "its Dockerfile")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t0 := time.Now()
	t, err := bench.Run(ctx, o)
	if t != nil {
		fmt.Fprintln(stdout)
		t.Print(stdout)
		fmt.Fprintf(stdout, "\n(one run, %s)\n", time.Since(t0).Round(time.Second))
	}
	return err
}

func stopCluster(ctx context.Context, pg *testdb.Cluster) {
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = pg.Stop(stop)
}

// raiseFileLimit lifts the soft open-file limit to the hard one: every simulated agent
// holds two long-polls and a heartbeat connection, one end in each process.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
