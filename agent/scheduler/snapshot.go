package scheduler

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/garo-dev/garo/shared/protocol"
)

// What the scheduler publishes for readers on other goroutines: the snapshot of its
// last tick, and what Health, Records, Heartbeat, Snapshot and Holds read of it.

// snapshot is the scheduler's state as of its last tick, for readers on other
// goroutines. Nothing in it is changed once published.
type snapshot struct {
	at      time.Time
	records []*Record // sorted by name; never written
	jobs    []protocol.JobStatus
	queues  map[Key]int
	holds   map[Key]Hold
	health  ProviderHealth
}

// publish replaces the snapshot with the owner's state, as of at.
func (s *Scheduler) publish(at time.Time) {
	recs := s.sortedRecords()
	holds := map[Key]Hold{}
	for k, b := range s.backoffs {
		holds[k] = Hold{Until: b.Until, Reason: crashReason(b)}
	}
	for k, h := range s.blocked {
		if h.Until.After(at) && h.Until.After(holds[k].Until) {
			holds[k] = h
		}
	}
	s.snap.Store(&snapshot{
		// The plan's jobs and queues are its own and never written: shared, not copied.
		at: at, records: recs, jobs: s.lastPlan.Jobs, queues: s.lastPlan.Queues,
		holds: holds, health: s.health,
	})
}

// sortedRecords returns the records sorted by name. The last snapshot's order is kept
// when no record was added or removed since, which is most ticks: sorting the names of
// twenty thousand runners each time was a good part of a tick at 3,000 repositories.
func (s *Scheduler) sortedRecords() []*Record {
	prev := s.snap.Load().records
	recs := make([]*Record, 0, len(s.records))
	if len(prev) == len(s.records) {
		for _, r := range prev {
			cur, ok := s.records[r.Name]
			if !ok {
				break
			}
			recs = append(recs, cur)
		}
		if len(recs) == len(s.records) {
			return recs // the same names (they are unique): the same order
		}
		recs = recs[:0]
	}
	for _, r := range s.records {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *Record) int { return strings.Compare(a.Name, b.Name) })
	return recs
}

// ProviderHealth is whether the provider answered the last tick's listing, and how old
// the scheduler's published state is.
type ProviderHealth struct {
	OK           bool
	LastOK       time.Time // the last tick that listed the instances; zero before the first
	Err          error     // the last listing's error, while it fails
	FailingSince time.Time // the first failing tick of the current run of failures
	// SnapshotAt is when the loop last published its state (zero before the first
	// tick); SnapshotAge is how long ago that was when Health was called. A loop that
	// is stuck shows as a growing age.
	SnapshotAt  time.Time
	SnapshotAge time.Duration
}

// Health reports the provider's health as the ticks saw it. It never waits on the loop.
func (s *Scheduler) Health() ProviderHealth {
	snap := s.snap.Load()
	h := snap.health
	h.SnapshotAt = snap.at
	if !snap.at.IsZero() {
		h.SnapshotAge = max(0, s.opts.Now().Sub(snap.at))
	}
	return h
}

// Records returns the runner records of the last snapshot, sorted by name.
func (s *Scheduler) Records() []Record {
	recs := s.snap.Load().records
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out
}

// Heartbeat is the agent's report: its state, runners and jobs, from the last snapshot.
// Reporting it again is harmless: the server replaces what it knew.
func (s *Scheduler) Heartbeat() protocol.HeartbeatRequest {
	snap := s.snap.Load()
	hb := protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: []protocol.RunnerStatus{}, Jobs: slices.Clone(snap.jobs)}
	if s.draining.Load() {
		hb.State = protocol.AgentDraining
	}
	if hb.Jobs == nil {
		hb.Jobs = []protocol.JobStatus{}
	}
	for _, r := range snap.records {
		if r.Repository == "" || r.Policy == "" {
			continue // an unlabelled orphan on its way out: nothing the server could file
		}
		hb.Runners = append(hb.Runners, r.Status())
	}
	return hb
}

// Snapshot counts runners per policy and state, and jobs waiting for capacity per
// policy, for metrics.
func (s *Scheduler) Snapshot() (runners map[Key]map[protocol.RunnerState]int, queues map[Key]int) {
	snap := s.snap.Load()
	runners = map[Key]map[protocol.RunnerState]int{}
	for _, r := range snap.records {
		if runners[r.Key] == nil {
			runners[r.Key] = map[protocol.RunnerState]int{}
		}
		runners[r.Key][r.State]++
	}
	return runners, maps.Clone(snap.queues)
}

// Holds returns, per policy held back as of the last snapshot, until when and why: the
// crash-loop back-off, or the backoff after failed creations, whichever ends later. A
// crash-looping policy that tries one runner at a time may have an Until in the past.
func (s *Scheduler) Holds() map[Key]Hold { return maps.Clone(s.snap.Load().holds) }
