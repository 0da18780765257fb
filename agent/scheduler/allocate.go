package scheduler

import (
	"slices"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/queue"
)

// The agent's capacity across policies: what each asks (demand), and allocate, which
// grants the demands in the order of shared/queue as far as the capacity goes.

// demand is what one policy asks of the agent's capacity: runners for
// queued[covered:covered+forJobs], and idle more for min_idle.
type demand struct {
	key                        Key
	pol                        *protocol.Policy
	spec                       string
	queued                     []*protocol.Job
	runnerFor                  map[int64]string
	covered, forJobs, heldJobs int
	hold                       Hold
	idle                       int
	// Set by allocate: which of the jobs get a runner now (by job id), how many of the
	// idle runners, and the position of those the agent's capacity holds.
	granted     map[int64]bool
	grantedIdle int
	grantAll    bool // every job and idle runner granted (no capacity set)
	capPos      map[int64]int
}

// allocate decides which of the demands the agent's capacity has room for: the jobs in
// the order of shared/queue (the oldest past max_wait, then higher priority, then
// oldest), then the idle runners of min_idle. It stops at the first that does not fit,
// so that a large job is not passed over for ever by small ones; the jobs it holds wait
// with their place in that order. Without a capacity every demand fits.
func (p *Plan) allocate(in Input) {
	if in.Capacity == (Capacity{}) {
		// Every demand fits: nothing to order or count (thousands of policies made a map
		// or two each here, every tick).
		for i := range p.demands {
			p.demands[i].grantAll, p.demands[i].grantedIdle = true, p.demands[i].idle
		}
		return
	}
	type cand struct {
		d   *demand
		job *protocol.Job
		e   queue.Entry
	}
	var jobs []cand
	for i := range p.demands {
		d := &p.demands[i]
		d.granted, d.capPos = map[int64]bool{}, map[int64]int{}
		for _, j := range d.queued[d.covered : d.covered+d.forJobs] {
			jobs = append(jobs, cand{d: d, job: j, e: queue.Entry{ID: j.ID, Priority: d.pol.Priority, ReceivedAt: j.ReceivedAt}})
		}
	}
	maxWait := time.Duration(0)
	if in.Config != nil {
		maxWait = in.Config.Scheduling.MaxWait.D()
	}
	slices.SortFunc(jobs, func(a, b cand) int { return queue.Compare(a.e, b.e, in.Now, maxWait) })
	use := p.capacityInUse(in)
	fits := func(pol *protocol.Policy) bool {
		cpu, mem := guardrails.Requests(pol.Runner)
		c := in.Capacity
		switch {
		case c.MaxRunners > 0 && use.runners+1 > c.MaxRunners,
			c.CPUMilli > 0 && cpu > 0 && use.cpu+cpu > c.CPUMilli,
			c.MemoryBytes > 0 && mem > 0 && use.mem+mem > c.MemoryBytes:
			return false
		}
		use.runners, use.cpu, use.mem = use.runners+1, use.cpu+cpu, use.mem+mem
		return true
	}
	full := false
	waiting := 0
	for _, c := range jobs {
		if !full && fits(c.d.pol) {
			c.d.granted[c.job.ID] = true
			continue
		}
		full = true
		waiting++
		c.d.capPos[c.job.ID] = waiting
	}
	for i := range p.demands {
		d := &p.demands[i]
		for range d.idle {
			if full || !fits(d.pol) {
				full = true
				break
			}
			d.grantedIdle++
		}
	}
}

// inUse is what the agent's runners hold of its capacity.
type inUse struct {
	runners  int
	cpu, mem int64
}

// capacityInUse sums what the records hold: every runner that is not over, and those
// over whose instance still runs (their removal is under way), with what their policies
// request.
func (p *Plan) capacityInUse(in Input) inUse {
	var u inUse
	if in.Capacity == (Capacity{}) {
		return u
	}
	specs := map[Key]protocol.Policy{}
	for _, d := range p.demands {
		specs[d.key] = *d.pol
	}
	if in.Config != nil {
		for _, pol := range in.Config.Policies {
			specs[Key{pol.Repository, pol.Name}] = pol
		}
	}
	running := map[string]bool{}
	for _, inst := range in.Inventory {
		if inst.State != provider.StateExited && inst.State != provider.StateGone {
			running[inst.ID] = true
		}
	}
	for _, r := range p.Records {
		if !r.live() && !running[r.ProviderID] {
			continue
		}
		cpu, mem := guardrails.Requests(specs[r.Key].Runner)
		u.runners, u.cpu, u.mem = u.runners+1, u.cpu+cpu, u.mem+mem
	}
	return u
}
