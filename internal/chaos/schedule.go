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
)

// Fault is one step of a schedule, At after the burst was queued.
type Fault struct {
	At   time.Duration
	Kind string
	For  time.Duration
}

// round is one pass of every fault but the outage, over about 30 s.
func round(at time.Duration) []Fault {
	return []Fault{
		{At: at + 3*time.Second, Kind: KillReplica, For: 2 * time.Second},
		{At: at + 7*time.Second, Kind: GitHub5xx, For: 5 * time.Second},
		{At: at + 14*time.Second, Kind: KillAgent, For: time.Second},
		{At: at + 18*time.Second, Kind: RmBusy},
		{At: at + 18*time.Second + 500*time.Millisecond, Kind: RmIdle},
		{At: at + 22*time.Second, Kind: PGRestart},
		{At: at + 26*time.Second, Kind: GitHub429, For: 5 * time.Second},
	}
}

// Schedule returns a named schedule: "small" (CI: one round) or "full" (rounds through
// the run and both replicas down for 60 s).
func Schedule(name string) ([]Fault, error) {
	switch name {
	case "small":
		return round(0), nil
	case "full":
		var s []Fault
		for _, at := range []time.Duration{0, 45 * time.Second, 90 * time.Second} {
			s = append(s, round(at)...)
		}
		s = append(s, Fault{At: 135 * time.Second, Kind: Outage, For: 60 * time.Second})
		for _, at := range []time.Duration{210 * time.Second, 255 * time.Second, 300 * time.Second} {
			s = append(s, round(at)...)
		}
		return s, nil
	}
	return nil, fmt.Errorf("chaos: schedule %q: want small or full", name)
}
