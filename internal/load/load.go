// Package load drives a real garo-server at scale and measures it: the load harness of
// `make bench` and of cmd/garo-load (docs/performance.md).
//
// It starts the hub (package hub: the GitHub simulator and garo-server, on SQLite or on the
// PostgreSQL database Options.DSN names) in a child process (Options.HubCommand: garo-load's
// own hidden hub subcommand, ServeHub), and in this process registers Options.Agents
// simulated agents that speak the real agent protocol through the agent's own client
// package (agent/client): register, heartbeat with a runner inventory, the config and jobs
// long-polls, credential requests and removals. It creates Options.Policies policies over
// Options.Repos repositories, then sends signed workflow_job deliveries straight to the
// server's webhook at Options.Rate jobs per second (queued, in_progress and completed per
// job, as GitHub sends them, plus deliveries of hosted jobs that no policy matches), and
// records per job when the webhook was answered (the job is matched and committed before
// the answer), when the owning agent's jobs poll offered it and when its runner's
// credentials were minted, and per delivery the answer time. The hub's CPU time and RSS
// are sampled once a second from /proc: they are the server's and the simulator's, which
// does little when no job runs (idle and intake runs); the load generator's own CPU time
// is measured apart. Without Options.HubCommand the hub runs in this process, and its
// figures include the load generator's.
//
// Test support only: no production binary imports it.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Options shape one load run. Zero values take the defaults of Defaults.
type Options struct {
	Dir    string // the hub's directory (SQLite database, keys); required
	Driver string // "sqlite" (default) or "postgres"
	DSN    string // the PostgreSQL database when Driver is "postgres"
	// DBPID is the postmaster of that database's cluster, when it runs on this machine:
	// the CPU time of it and its backends is measured too (0: not measured).
	DBPID    int
	Agents   int // simulated agents
	Repos    int // repositories, spread over the agents by the server
	Policies int // policies, spread round-robin over the repositories
	// Rate is the jobs per second sent (each job is three deliveries); 0 sends none.
	Rate float64
	// Duration is how long jobs are sent; the run then waits up to Drain for the last.
	Duration time.Duration
	Drain    time.Duration
	// Hosted is the number of hosted jobs (labels no policy has, three deliveries each)
	// per job of ours.
	Hosted float64
	// Work is how long a job runs between in_progress and completed.
	Work time.Duration
	// IdleRunners is how many idle runners each agent reports beside its busy ones.
	IdleRunners int
	// Heartbeat is the agents' heartbeat interval (the server's agents.heartbeat_interval).
	Heartbeat time.Duration
	// LongPoll is how long the server holds a poll (agents.long_poll_timeout).
	LongPoll time.Duration
	// Senders, when set, replaces the rate with a closed loop: that many senders post the
	// deliveries of new jobs (queued, in_progress, completed, each after the last was
	// answered) back to back for Duration, to measure the webhook intake; the agents then
	// only record the offers and mint nothing.
	Senders int
	// PolicyChanges is how many policy changes are made during the run, one at a time,
	// each timed until the owning agent's held config poll returns.
	PolicyChanges int
	// HubCommand runs the hub in a child process: its argv, to which the hub's flags are
	// appended (garo-load: its own executable and "hub"; ServeHub). Empty runs the hub in
	// this process.
	HubCommand []string
	// HubPprof, when set, is a loopback address where the hub serves net/http/pprof.
	HubPprof string
	// GitHubRateLimit is the simulator's budget of REST calls per hour per installation;
	// 0 is GitHub's 5,000 in one window, which 200 jobs/s (a mint and a removal each) spend
	// in seconds: Defaults lifts it (LiftedRateLimit).
	GitHubRateLimit int
	// Progress receives a line at each step of the run's setup; nil discards.
	Progress io.Writer
}

// LiftedRateLimit is the simulator's budget of load runs (calls per hour): one that the
// harness's rates never reach, so that they measure Garo and not GitHub's limit (5,000
// calls per hour per installation, up to 15,000 on GitHub Enterprise Cloud: "Rate limits
// for the REST API", https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
const LiftedRateLimit = 100_000_000

// Defaults is a small run that takes seconds.
func Defaults() Options {
	return Options{
		Driver: "sqlite", Agents: 10, Repos: 50, Policies: 100, Rate: 20, Duration: 10 * time.Second,
		Drain: 15 * time.Second, Hosted: 0.5, Work: 500 * time.Millisecond, IdleRunners: 2,
		Heartbeat: 5 * time.Second, LongPoll: 25 * time.Second, GitHubRateLimit: LiftedRateLimit,
	}
}

func (o *Options) fill() error {
	d := Defaults()
	if o.Dir == "" {
		return errors.New("load: a directory is required")
	}
	if o.Driver == "" {
		o.Driver = d.Driver
	}
	if o.Driver == "postgres" && o.DSN == "" {
		return errors.New("load: postgres needs a DSN")
	}
	if o.Agents <= 0 || o.Repos <= 0 {
		return fmt.Errorf("load: agents (%d) and repositories (%d) must be positive", o.Agents, o.Repos)
	}
	if o.Policies < o.Repos {
		o.Policies = o.Repos
	}
	if o.Drain <= 0 {
		o.Drain = d.Drain
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = d.Heartbeat
	}
	if o.LongPoll <= 0 {
		o.LongPoll = d.LongPoll
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// Run runs one load and returns its measurements. ctx bounds the whole run.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	e, err := startEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	return e.run(ctx)
}
