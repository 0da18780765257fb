package load

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/garo-dev/garo/internal/stats"
)

// Result is what one run measured.
type Result struct {
	Options
	Elapsed time.Duration // the sending window
	// Jobs sent (ours), and how many of them were answered, offered, minted, completed.
	Jobs, Answered, Offered, Minted, Completed int
	Deliveries                                 int             // all deliveries answered
	Answer                                     []time.Duration // per delivery
	// Per job, from the moment its queued delivery was sent.
	ToMatched, ToOffered, ToMinted []time.Duration
	Heartbeats                     []time.Duration // round trips
	PolicyChange                   []time.Duration // change → owning agent's config poll returned
	Removals                       int
	Failures                       map[string]int
	LastErrors                     map[string]string
	// HubPID is the hub's process: a child, or this process without Options.HubCommand.
	HubPID int
	// CPU is the cores the hub's process used (the server and the simulator; with the hub in
	// this process, the load generator too), averaged over Elapsed.
	CPU     float64
	LoadCPU float64 // cores this process (the load generator) used, likewise
	DBCPU   float64 // cores used by PostgreSQL (Options.DBPID), likewise
	// The hub's RSS: the largest and the last of the samples taken from the sending window's
	// start to the end of the drain, and its peak since it started (setup included).
	RSSMax, RSSEnd, RSSPeak uint64
	Unowned                 int // repositories no agent owned when an idle run began
	// GitHubCalls is how many calls the server made to GitHub's API (the simulator) from
	// the sending window's start to the end of the drain (garo_github_requests_total).
	GitHubCalls int
}

func (e *env) collect(res *Result) {
	r := e.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		res.Jobs++
		if !j.answered.IsZero() {
			res.Answered++
			res.ToMatched = append(res.ToMatched, j.answered.Sub(j.sent))
		}
		if !j.offered.IsZero() {
			res.Offered++
			res.ToOffered = append(res.ToOffered, j.offered.Sub(j.sent))
		}
		if !j.minted.IsZero() {
			res.Minted++
			res.ToMinted = append(res.ToMinted, j.minted.Sub(j.sent))
		}
		if !j.completed.IsZero() {
			res.Completed++
		}
	}
	res.Deliveries = len(r.answers)
	res.Answer = append(res.Answer, r.answers...)
	res.Heartbeats = append(res.Heartbeats, r.heartbeats...)
	res.PolicyChange = append(res.PolicyChange, r.changeSeen...)
	res.Removals = r.removals
	res.Failures, res.LastErrors = map[string]int{}, map[string]string{}
	for k, v := range r.failures {
		res.Failures[k] = v
		res.LastErrors[k] = r.lastErr[k]
	}
}

// CallsPerJob is the server's GitHub calls per job minted.
func (r *Result) CallsPerJob() float64 {
	if r.Minted == 0 {
		return 0
	}
	return float64(r.GitHubCalls) / float64(r.Minted)
}

// InProcess reports whether the hub ran in the load generator's process.
func (r *Result) InProcess() bool { return len(r.HubCommand) == 0 }

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// DeliveryRate is the deliveries answered per second of the sending window.
func (r *Result) DeliveryRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Deliveries) / r.Elapsed.Seconds()
}

// P is the nearest-rank p-th percentile of ds in milliseconds.
func P(ds []time.Duration, p float64) float64 { return ms(stats.Percentile(ds, p)) }

// Print writes a human summary of the run.
func (r *Result) Print(w io.Writer) {
	sending := fmt.Sprintf("%.0f jobs/s (+%.1f hosted each)", r.Rate, r.Hosted)
	if r.Senders > 0 {
		sending = fmt.Sprintf("%d closed-loop senders of jobs' deliveries (queued, in_progress, completed)", r.Senders)
	}
	fmt.Fprintf(w, "load: %s, %d agents, %d policies over %d repositories, %s for %s\n",
		r.Driver, r.Agents, r.Policies, r.Repos, sending, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  jobs %d: answered %d, offered %d, minted %d, completed %d; runners removed %d\n",
		r.Jobs, r.Answered, r.Offered, r.Minted, r.Completed, r.Removals)
	row := func(name string, ds []time.Duration) {
		if len(ds) == 0 {
			return
		}
		fmt.Fprintf(w, "  %-34s n=%-6d p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms\n", name, len(ds), P(ds, .5), P(ds, .99), P(ds, 1))
	}
	row("delivery answer", r.Answer)
	row("webhook sent → matched (answered)", r.ToMatched)
	row("webhook sent → offered to agent", r.ToOffered)
	row("webhook sent → credentials minted", r.ToMinted)
	row("heartbeat round trip", r.Heartbeats)
	row("policy change → agent", r.PolicyChange)
	fmt.Fprintf(w, "  deliveries %d (%.0f/s); GitHub calls %d", r.Deliveries, r.DeliveryRate(), r.GitHubCalls)
	if r.Minted > 0 {
		fmt.Fprintf(w, " (%.2f per job minted)", r.CallsPerJob())
	}
	fmt.Fprintln(w)
	if r.InProcess() {
		fmt.Fprintf(w, "  process (hub and load generator) CPU %.2f cores, RSS max %.0f MB, peak %.0f MB\n",
			r.CPU, mb(r.RSSMax), mb(r.RSSPeak))
	} else {
		fmt.Fprintf(w, "  hub (pid %d: server + simulator) CPU %.2f cores, RSS max %.0f MB, last %.0f MB, peak %.0f MB; load generator CPU %.2f cores\n",
			r.HubPID, r.CPU, mb(r.RSSMax), mb(r.RSSEnd), mb(r.RSSPeak), r.LoadCPU)
	}
	if r.DBPID > 0 {
		fmt.Fprintf(w, "  PostgreSQL CPU %.2f cores", r.DBCPU)
	}
	if r.Deliveries > 0 {
		per := r.Elapsed.Seconds() * 1000 / float64(r.Deliveries)
		fmt.Fprintf(w, "  CPU per delivery: hub %.2f ms, load generator %.2f ms", r.CPU*per, r.LoadCPU*per)
		if r.DBPID > 0 {
			fmt.Fprintf(w, ", PostgreSQL %.2f ms", r.DBCPU*per)
		}
	}
	if r.DBPID > 0 || r.Deliveries > 0 {
		fmt.Fprintln(w)
	}
	kinds := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  failures %s: %d (last: %s)\n", k, r.Failures[k], r.LastErrors[k])
	}
}
