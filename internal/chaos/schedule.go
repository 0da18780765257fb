package chaos

import (
	"fmt"
	"time"
)

// Fault kinds of a schedule.
const (
	KillReplica = "kill -9 replica"    // replica A killed, restarted after For
	KillAgent   = "kill -9 agent"      // the agent killed, restarted after For
	PGRestart   = "PostgreSQL restart" // pg_ctl stop -m fast, then start on the same port
	GitHub5xx   = "GitHub 502 window"  // every REST call answers 502 for For
	GitHub429   = "GitHub 429 window"  // every REST call answers 429 (Retry-After 2 s) for For
	RmBusy      = "docker rm -f busy"  // a container whose runner has a job
	RmIdle      = "docker rm -f idle"  // a container whose runner has none
	Outage      = "both replicas down" // for For; Options.OutageJobs are queued meanwhile
	// LoseCompleted: GitHub loses the workflow_job completed deliveries for For (never
	// made, so never redelivered): only reconciliation's look-up of in_progress jobs
	// (github.catchup.in_progress_check) repairs the job log (issue 14, finding 3).
	LoseCompleted = "GitHub loses completed webhooks"
)

// Fault is one step of a schedule, At after the burst was queued.
type Fault struct {
	At   time.Duration
	Kind string
	For  time.Duration
}

// round is one pass of every fault but the outage, over about 36 s.
func round(at time.Duration) []Fault {
	return []Fault{
		{At: at + 3*time.Second, Kind: KillReplica, For: 2 * time.Second},
		{At: at + 7*time.Second, Kind: GitHub5xx, For: 5 * time.Second},
		{At: at + 14*time.Second, Kind: KillAgent, For: time.Second},
		{At: at + 18*time.Second, Kind: RmBusy},
		{At: at + 18*time.Second + 500*time.Millisecond, Kind: RmIdle},
		{At: at + 22*time.Second, Kind: PGRestart},
		{At: at + 26*time.Second, Kind: GitHub429, For: 5 * time.Second},
		{At: at + 31*time.Second, Kind: LoseCompleted, For: 5 * time.Second},
	}
}

// Recovery targets of issue 14, checked when Options.Targets is set (the outage preset):
// after both replicas were down for 60 s, the agent is back within AgentBackTarget of the
// return, every job queued during the outage has a runner within RunnerTarget of it, and
// the job log agrees with GitHub within LogTarget.
const (
	AgentBackTarget = 5 * time.Second
	RunnerTarget    = 15 * time.Second
	LogTarget       = 30 * time.Second
)

// Preset returns the options of a named run (Bin, Dockerfile, Dir and Out are the
// caller's):
//   - "small" (CI): 60 jobs of 3 s at max_runners 5, one round of every fault but the
//     outage;
//   - "full": 1,000 jobs of 2 s at max_runners 10, rounds through the run and both
//     replicas down for 60 s while 20 more are queued; the outage's jobs wait behind the
//     burst's backlog, so their wait is the queue's;
//   - "outage": the 60 s outage alone with capacity to spare: 10 jobs of 3 s, the outage
//     3 s later (those jobs in flight), 20 jobs queued during it, max_runners 30 above
//     the whole backlog at the return; the recovery targets are checked.
func Preset(name string) (Options, error) {
	switch name {
	case "small":
		return Options{Schedule: round(0), Jobs: 60, MaxRunners: 5, Work: 3 * time.Second}, nil
	case "full":
		var s []Fault
		for _, at := range []time.Duration{0, 45 * time.Second, 90 * time.Second} {
			s = append(s, round(at)...)
		}
		s = append(s, Fault{At: 135 * time.Second, Kind: Outage, For: 60 * time.Second})
		for _, at := range []time.Duration{210 * time.Second, 255 * time.Second, 300 * time.Second} {
			s = append(s, round(at)...)
		}
		return Options{Schedule: s, Jobs: 1000, OutageJobs: 20, MaxRunners: 10, Work: 2 * time.Second, Deadline: 30 * time.Minute}, nil
	case "outage":
		return Options{Schedule: []Fault{{At: 3 * time.Second, Kind: Outage, For: 60 * time.Second}},
			Jobs: 10, OutageJobs: 20, MaxRunners: 30, Work: 3 * time.Second, Targets: true}, nil
	}
	return Options{}, fmt.Errorf("chaos: schedule %q: want small, full or outage", name)
}
