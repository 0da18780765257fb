package scheduler

import "github.com/garo-dev/garo/shared/protocol"

// What a policy's demand comes to once allocated: the states of its queued jobs, and
// the runners to create.

// emit sets the states of d's queued jobs and plans the creations allocate granted.
func (p *Plan) emit(in Input, d *demand) {
	k, pol := d.key, d.pol
	i0 := d.covered + d.forJobs + d.heldJobs // the first job the policy's max_runners holds
	for i, j := range d.queued {
		st := protocol.JobStatus{JobID: j.ID, State: protocol.JobRunnerRequested, Runner: d.runnerFor[j.ID]}
		switch {
		case i < d.covered:
		case i < d.covered+d.forJobs && (d.grantAll || d.granted[j.ID]):
			st.Runner = p.newRecord(in, k, pol, d.spec, j.ID)
		case i < d.covered+d.forJobs:
			st.State, st.Limit, st.Position = protocol.JobWaitingForCapacity, protocol.LimitAgentCapacity, d.capPos[j.ID]
			st.Runner = ""
			p.Queues[k]++
		case i < i0:
			st.State, st.Reason = protocol.JobBackingOff, d.hold.Reason
			if !d.hold.Until.IsZero() {
				at := d.hold.Until.UTC()
				st.RetryAt = &at
			}
		default:
			st.State, st.Limit, st.Position = protocol.JobWaitingForCapacity, protocol.LimitMaxRunners, i-i0+1
			p.Queues[k]++
		}
		p.Jobs = append(p.Jobs, st)
	}
	for range d.grantedIdle {
		p.newRecord(in, k, pol, d.spec, 0)
	}
	if _, ok := p.Queues[k]; !ok {
		p.Queues[k] = 0
	}
}

// newRecord plans a new runner of policy pol, whose definition's fingerprint is spec, and
// returns its name.
func (p *Plan) newRecord(in Input, k Key, pol *protocol.Policy, spec string, job int64) string {
	r := Record{
		Name: in.NewName(k), Key: k, State: protocol.RunnerCreating, Ephemeral: pol.Ephemeral,
		ForJob: job, CreatedAt: in.Now, Since: in.Now, Pending: true, Spec: spec, PolicyID: pol.ID,
	}
	if in.MaxLifetime > 0 {
		r.Expiry = in.Now.Add(in.MaxLifetime)
	}
	p.Creates = append(p.Creates, Create{Record: p.add(r), Policy: pol})
	return r.Name
}
