package scheduler

import (
	"fmt"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
)

// How a record learns its state: from its instance and the jobs (look, observe), and,
// after a restart, from its instance's labels (Adopt).

// look derives the state of one record (orig, of the input) from its instance (ip, the
// zero one when it has none) and the jobs, puts it into the plan when it changed, notes
// what it says of its policy (it took a job, or failed before taking one: crash loop)
// and returns its group and its plan's record.
func (p *Plan) look(in *Input, ix *groupIndex, name string, orig *Record, ip *provider.Instance, has bool,
	busyJob map[string]*protocol.Job) (int32, *Record) {
	r := *orig
	if has && r.ProviderID == "" && !r.Pending {
		r.ProviderID = ip.ID
	}
	gi := ix.index(r.Key)
	g := &ix.groups[gi]
	if g.pol != nil {
		r.Ephemeral = g.pol.Ephemeral
	}
	next := r
	if observe(in, &next, ip, has, busyJob, g.queued, g.pol) {
		p.Provisioned = append(p.Provisioned, Provisioned{Key: r.Key, After: in.Now.Sub(r.CreatedAt)})
	}
	if r.Pending && next.State != r.State && (next.State == protocol.RunnerFailed || next.State == protocol.RunnerFinished) {
		// Being removed: its instance stops and goes, which is no failure of the
		// runner; the removal reports back.
		next.State, next.Since, next.Reason = r.State, r.Since, r.Reason
	}
	switch {
	case next.TookJob && !r.TookJob, next.State == protocol.RunnerFinished && r.State != protocol.RunnerFinished:
		g.took = true // it took a job, or exited cleanly after one the agent did not see
	case next.State == protocol.RunnerFailed && r.State != protocol.RunnerFailed && !next.TookJob:
		// (A runner that took a job and then lost its instance says nothing about its
		// policy's image or network.)
		if !g.hasFailed || name < g.failed {
			g.failed, g.hasFailed = name, true // the first by name: the same plan for the same input
		}
	}
	if next == *orig {
		return gi, orig
	}
	cur := new(Record)
	*cur = next
	p.Records[name] = cur
	p.Changed = true
	return gi, cur
}

// observe derives a record's state (r, a copy: Reconcile's own), from its instance (the
// zero one when it has none). It reports the first sight of it running.
func observe(in *Input, r *Record, inst *provider.Instance, has bool, busyJob map[string]*protocol.Job,
	queued []*protocol.Job, pol *protocol.Policy) bool {
	set := func(s protocol.RunnerState, reason string) {
		if r.State != s {
			r.State, r.Since = s, in.Now
		}
		r.Reason = reason
	}
	if r.State == protocol.RunnerCreating && r.Pending {
		return false // the create action reports back
	}
	if r.State == protocol.RunnerFailed || r.State == protocol.RunnerFinished {
		return false // on its way out
	}
	provisioned := false
	if has && inst.State == provider.StateRunning && !r.Provisioned {
		r.Provisioned, provisioned = true, true
		r.RunningSince = in.Now
	}
	j, busy := busyJob[r.Name]
	if busy && !has && r.ProviderID != "" {
		// Its instance is gone (removed behind the agent's back, or its node died): the
		// runner is gone with it, whatever GitHub still says of its job. It frees its
		// slot at once; its registration is removed at GitHub (Reap.Lost), and the
		// heartbeat says which job it was running when it went.
		r.JobID, r.TookJob, r.Lost = j.ID, true, true
		set(protocol.RunnerFailed, fmt.Sprintf("the instance disappeared while running job %d", j.ID))
		return provisioned
	}
	if busy && has && inst.State == provider.StateExited && inst.ExitCode != 0 {
		// Killed while GitHub still gives it its job (`docker rm -f` caught between kill
		// and removal, an OOM kill): its process will never end the job, nor its
		// registration, at GitHub. It is lost, not finished; the chaos suite's full run
		// left 4 such registrations.
		r.JobID, r.TookJob, r.Lost = j.ID, true, true
		set(protocol.RunnerFailed, fmt.Sprintf("exited with code %d while running job %d%s", inst.ExitCode, j.ID, suffix(inst.Reason)))
		return provisioned
	}
	if busy && (!has || inst.State != provider.StateExited) {
		r.JobID, r.TookJob = j.ID, true
		set(protocol.RunnerBusy, "")
		return provisioned
	}
	if r.TookJob && !has && r.State == protocol.RunnerBusy && r.ProviderID != "" {
		// Busy when last seen, and gone before the agent saw its job close: it may
		// have been killed as well as finished. Its registration is removed at GitHub
		// either way (an ephemeral runner that finished is gone there already: 404).
		r.Lost = true
	}
	if in.Jobs == nil && has && inst.State == provider.StateRunning && (r.TookJob || r.State == protocol.RunnerIdle) {
		return provisioned // without the jobs, a running runner stays as it was
	}
	if r.TookJob { // its job is no longer open (or the process ended): done
		if r.Ephemeral || !has || inst.State != provider.StateRunning {
			set(protocol.RunnerFinished, "")
			return provisioned
		}
		set(protocol.RunnerIdle, "")
		return provisioned
	}
	age := in.Now.Sub(r.CreatedAt)
	boot := time.Duration(0)
	if pol != nil {
		boot = pol.BootstrapTimeout.D()
	}
	switch {
	case !has:
		set(protocol.RunnerFailed, "the instance disappeared")
		// Its registration exists at GitHub from the moment its credentials were minted,
		// and GitHub may have given it a job the agent has not seen yet: it is removed
		// there as a lost runner's is (retried while GitHub calls it busy).
		// A runner restored from the journal is Lost already: its credentials may have
		// been minted before its GitHub id reached the journal (removed by name).
		r.Lost = r.Lost || r.RunnerID != 0
	case inst.State == provider.StateExited && inst.ExitCode == 0 && r.Ephemeral:
		// An ephemeral runner exits cleanly only after its job: one whose job the agent
		// never saw (adopted after a restart, or too quick for the jobs poll) is done.
		set(protocol.RunnerFinished, "")
	case inst.State == provider.StateExited:
		set(protocol.RunnerFailed, fmt.Sprintf("exited with code %d before taking a job%s", inst.ExitCode, suffix(inst.Reason)))
		// Its registration exists, and GitHub may have given it a job the agent has not
		// seen yet: removed as a lost runner's is, retried while GitHub calls it busy.
		r.Lost = r.RunnerID != 0
	case inst.State == provider.StateCreated:
		if boot > 0 && age >= boot {
			set(protocol.RunnerFailed, fmt.Sprintf("not started within the bootstrap timeout (%s)%s", boot, suffix(inst.Reason)))
		} else {
			set(protocol.RunnerBooting, "")
		}
	default: // running, never took a job
		set(protocol.RunnerIdle, "")
		// A healthy runner takes a queued job of its policy within seconds. One that
		// let such a job wait for the whole bootstrap timeout never came online.
		if boot > 0 {
			for _, j := range queued {
				if in.Now.Sub(later(r.CreatedAt, j.ReceivedAt)) >= boot {
					set(protocol.RunnerFailed, fmt.Sprintf("not online within the bootstrap timeout (%s): job %d waited", boot, j.ID))
					break
				}
			}
		}
	}
	return provisioned
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// Adopt returns records for the instances of the agent (its agent id in their labels)
// that records lacks: what a restarted agent learns again from its provider. Instances
// whose labels do not say enough are left out; Reconcile sweeps them as orphans.
func Adopt(agentID string, inventory []provider.Instance, records map[string]*Record, now time.Time) map[string]*Record {
	out := cloneRecords(records)
	if out == nil {
		out = map[string]*Record{}
	}
	for _, inst := range inventory {
		if inst.State == provider.StateGone || inst.Labels[provider.LabelAgentID] != agentID {
			continue
		}
		r, ok := fromInstance(inst, now)
		if _, have := out[r.Name]; !ok || have {
			continue
		}
		r.Provisioned = inst.State == provider.StateRunning
		out[r.Name] = &r
	}
	return out
}
