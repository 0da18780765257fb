package demo

import (
	"fmt"
	"io"
	"time"

	"github.com/garo-dev/garo/internal/stats"
)

// Summary is what a demo run measured.
type Summary struct {
	AgentID   string
	Jobs      int // queued in the burst
	Succeeded int
	Failed    int
	Waited    int // jobs the portal showed waiting for capacity at some point

	// From the server's receipt of a job's queued webhook to the container of the runner
	// that ran it running (engine's StartedAt), and to that runner being online at
	// GitHub (the simulator). Every job, and the first max_runners jobs of the burst,
	// which did not wait for capacity.
	WebhookToRunning   []time.Duration
	WebhookToOnline    []time.Duration
	FirstWaveToRunning []time.Duration
	FirstWaveToOnline  []time.Duration

	MaxRunners  int // the policy's max_runners
	PeakRunners int // containers created or running at once
	PeakOnline  int // runners online at GitHub at once
	MostWaiting int // most jobs waiting for capacity at once
	Containers  int // runner containers created in all
	Duration    time.Duration

	// Plain is create + start of the same image without Garo, one run after the other;
	// PlainParallel max_runners runs at once, as the agent starts a burst's first wave.
	Plain         []time.Duration
	PlainParallel []time.Duration
}

// write prints the summary.
func (s *Summary) write(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Summary")
	fmt.Fprintf(w, "  jobs run                         %d of %d succeeded, %d failed, in %s, on %d runner containers\n",
		s.Succeeded, s.Jobs, s.Failed, round(s.Duration), s.Containers)
	fmt.Fprintf(w, "  webhook -> runner online         %s (every job; %d waited for capacity)\n", pcts(s.WebhookToOnline), s.Waited)
	fmt.Fprintf(w, "                                   %s (the first %d jobs: no wait for capacity)\n", pcts(s.FirstWaveToOnline), len(s.FirstWaveToOnline))
	fmt.Fprintf(w, "  webhook -> container running     %s (every job)\n", pcts(s.WebhookToRunning))
	fmt.Fprintf(w, "                                   %s (the first %d jobs)\n", pcts(s.FirstWaveToRunning), len(s.FirstWaveToRunning))
	if len(s.Plain) > 0 {
		fmt.Fprintf(w, "  plain docker run, same image     %s (create + start without Garo, %d runs one at a time)\n", pcts(s.Plain), len(s.Plain))
		fmt.Fprintf(w, "                                   %s (%d at once, like the first wave)\n", pcts(s.PlainParallel), len(s.PlainParallel))
	}
	fmt.Fprintf(w, "  peak runners                     %d of max_runners %d (%d online at GitHub at once; at most %d jobs waiting for capacity)\n",
		s.PeakRunners, s.MaxRunners, s.PeakOnline, s.MostWaiting)
}

// pcts formats the p50 and p95 of ds.
func pcts(ds []time.Duration) string {
	if len(ds) == 0 {
		return "p50 -, p95 -"
	}
	return fmt.Sprintf("p50 %s, p95 %s", round(stats.Percentile(ds, 0.50)), round(stats.Percentile(ds, 0.95)))
}
