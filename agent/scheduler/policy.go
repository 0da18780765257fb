package scheduler

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
)

// One policy's plan (schedule): the runners it reaps (finished, failed, expired,
// outdated, idle beyond its target, no longer served), its hold, and what it asks of the
// agent's capacity.

// schedule plans one policy (g): creations for queued jobs and min_idle, positions of
// the jobs that wait, and reaps. g.pol is nil when the agent does not serve the policy
// (any more); insts holds the inventory by provider id.
func (p *Plan) schedule(in Input, g *group, insts *instances, crash Backoff, sc *scratch) {
	k, pol, queued := g.key, g.pol, g.queued
	var busy, avail, dying, untested int
	idle := sc.idle[:0]
	defer func() { sc.idle = idle[:0] }() // its buffer, for the next policy
	var runnerFor map[int64]string        // job → runner created for it (made when there is one)
	for _, r := range g.recs {
		switch {
		case r.State == protocol.RunnerBusy:
			busy++
		case r.live():
			avail++
			if !r.TookJob && crash.Failures > 0 && !r.CreatedAt.Before(crash.Since) {
				untested++ // a probe of the back-off, not proven yet
			}
			if r.ForJob != 0 {
				if runnerFor == nil {
					runnerFor = map[int64]string{}
				}
				runnerFor[r.ForJob] = r.Name
			}
			if r.State == protocol.RunnerIdle && !r.Pending {
				idle = append(idle, r)
			}
		default:
			if inst, ok := insts.byID(r.ProviderID); ok && inst.State != provider.StateExited && inst.State != provider.StateGone {
				dying++ // failed or finished but still running: it holds capacity
			}
		}
	}
	// Finished and failed runners go; so does anything past its expiry that is not busy.
	// (Each record is reaped once at most: g.recs[i] is the plan's record until then.)
	for _, rp := range g.recs {
		r, name := *rp, rp.Name
		if r.Pending || in.Now.Before(r.RetryAt) {
			continue
		}
		expired := !r.Expiry.IsZero() && !in.Now.Before(r.Expiry) && r.State != protocol.RunnerBusy && r.State != protocol.RunnerCreating
		if r.State == protocol.RunnerFailed || r.State == protocol.RunnerFinished || expired {
			if expired && r.live() {
				// Still running until its reap is done: it holds capacity.
				r.Reason = "expired"
				avail--
				dying++
				idle = slices.DeleteFunc(idle, func(x *Record) bool { return x.Name == name })
			}
			p.reap(name, r, insts)
		}
	}
	// Idle runners made from an older definition of the policy (another image, other
	// labels, limits, ...) go at once, so that the next job gets what the policy says
	// now; busy ones finish their job first. Like an expired runner, one holds capacity
	// until its removal is done, and its replacement comes after.
	current := ""
	if pol != nil {
		current = specOf(in, pol)
		sc.outdated = append(sc.outdated[:0], idle...)
		for _, rp := range sc.outdated {
			if rp.Spec == "" || rp.Spec == current || in.Now.Before(rp.RetryAt) {
				continue
			}
			r := *rp
			r.Reason = "outdated: its policy's runner definition changed"
			avail--
			dying++
			idle = slices.DeleteFunc(idle, func(x *Record) bool { return x.Name == r.Name })
			p.reap(r.Name, r, insts)
		}
	}
	if pol == nil {
		// The policy is gone, or its repository moved to another agent: reap what is not
		// busy. The server refuses (not_owner) a repository that moved, and then the
		// runner stays for its new owner to adopt. Without a config nothing is known yet.
		if in.Config != nil {
			for _, rp := range idle {
				if in.Now.Before(rp.RetryAt) {
					continue // a refused or failed removal: not yet again
				}
				r := *rp
				r.Reason = "its policy is no longer served"
				p.reap(r.Name, r, insts)
			}
		}
		return
	}
	minIdle, err := EffectiveMinIdle(*pol, in.Now)
	if err != nil {
		p.Warnings = append(p.Warnings, err)
	}
	maxRunners := max(pol.MaxRunners, 0)
	target := min(maxRunners, busy+len(queued)+minIdle)
	if in.Draining {
		target = busy // nothing new, and idle runners go
	}
	want := target - busy - avail
	room := maxRunners - busy - avail - dying
	n := max(0, min(want, room))
	if in.Draining || in.Jobs == nil || in.NewName == nil {
		n = 0
	}
	// Held back: after failed creations, or (crash loop) after runners that failed
	// before taking a job. A crash-looping policy then tries one runner at a time.
	free := n
	var hold Hold
	if h := in.Blocked[k]; in.Now.Before(h.Until) {
		hold = h
	}
	if crash.Failures > 0 {
		if in.Now.Before(crash.Until) && crash.Until.After(hold.Until) {
			hold = Hold{Until: crash.Until, Reason: crashReason(crash)}
		}
		n = min(n, max(0, 1-untested))
		if hold.Reason == "" && n < free {
			hold.Reason = crashReason(crash) + "; one runner at a time until one takes a job"
		}
	}
	if !hold.Until.IsZero() {
		n = 0
	}
	// Surplus: runners that are not busy beyond what the target needs. Above max_runners
	// they go at once, otherwise after idle_grace; longest idle first.
	surplus := avail - max(0, target-busy)
	over := busy + avail + dying - maxRunners
	if in.Draining {
		over = surplus // draining: idle runners go at once
	}
	slices.SortFunc(idle, func(a, b *Record) int { return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Name, b.Name)) })
	for _, rp := range idle {
		if surplus <= 0 {
			break
		}
		if in.Now.Before(rp.RetryAt) {
			continue
		}
		r := *rp
		switch {
		case over > 0 && in.Draining:
			r.Reason = "the agent is draining"
			over--
		case over > 0:
			r.Reason = fmt.Sprintf("above max_runners (%d)", maxRunners)
			over--
		case in.Now.Sub(r.Since) >= pol.IdleGrace.D():
			r.Reason = fmt.Sprintf("idle beyond min_idle (%d) for %s", minIdle, pol.IdleGrace.D())
		default:
			continue
		}
		surplus--
		avail--
		p.reap(r.Name, r, insts)
	}
	// Queued jobs, oldest first: the first ones are covered by runners that are not
	// busy (GitHub gives the oldest job to the next runner that asks), the next may get
	// new runners, the rest wait for the policy's capacity. Creations beyond the jobs are
	// for min_idle. Jobs that would get a runner now but for the hold are backing off,
	// with why and until when. Whether the agent's capacity has room for the creations
	// is decided across policies (allocate), before the jobs' states are set (emit).
	covered := min(avail, len(queued))
	forJobs := min(n, len(queued)-covered)
	heldJobs := min(free, len(queued)-covered) - forJobs
	if hold.Reason == "" {
		heldJobs = 0
	}
	p.demands = append(p.demands, demand{
		key: k, pol: pol, spec: current, queued: queued, runnerFor: runnerFor,
		covered: covered, forJobs: forJobs, heldJobs: heldJobs, hold: hold, idle: n - forJobs,
	})
}

// scratch holds the buffers of a Reconcile that each policy's schedule reuses.
type scratch struct {
	idle, outdated []*Record
}

func (p *Plan) reap(name string, r Record, insts *instances) {
	var inst provider.Instance
	ip, ok := insts.byID(r.ProviderID)
	if ok {
		inst = *ip
	}
	r.Pending = true
	p.Records[name] = &r
	p.Changed = true
	running := ok && inst.State == provider.StateRunning
	// A lost runner's instance is gone or has exited: deleted, then its registration
	// removed at GitHub (a running one is removed there first, as any other).
	p.Reaps = append(p.Reaps, Reap{Record: r, Running: running, Instance: inst, Lost: r.Lost && !running})
}
