package scheduler

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
)

// GitHub's job statuses that matter here.
const (
	jobQueued     = "queued"
	jobInProgress = "in_progress"
)

// Input is everything Reconcile decides from. It is a value: Reconcile changes nothing in
// it.
type Input struct {
	Now     time.Time
	AgentID string
	// Config is nil until the first config arrives: then nothing is created, and running
	// runners are neither adopted as orphans nor reaped as surplus.
	Config *protocol.Config
	// Jobs is nil until the first jobs snapshot arrives: then nothing is created.
	Jobs *protocol.JobsSnapshot
	// Inventory is what the provider lists with Garo's managed-by label.
	Inventory []provider.Instance
	// Records are the agent's runners, by name (never written through: see Plan.Records).
	Records map[string]*Record
	// Draining: create nothing, let busy runners finish, reap the rest.
	Draining bool
	// Blocked holds, per policy, a time before which no runner is created, and why
	// (backoff after failed creations, e.g. while the server cannot mint credentials).
	Blocked map[Key]Hold
	// Backoff is each policy's crash-loop state from the last plan (Plan.Backoff).
	Backoff map[Key]Backoff
	// CrashBackoff paces a policy whose runners fail before taking a job: the n-th
	// failure in a row holds its creations back for a delay between half and all of
	// CrashBackoff.Ceiling(n-1). Zero Base and Cap mean 5 s and 5 min. Its Rand is not
	// used: the jitter is drawn from the policy and the count, so that Reconcile stays
	// pure and policies that fail together still spread their retries.
	CrashBackoff backoff.Policy
	// Specs are the fingerprints (SpecOf) of the config's policies by policy id, worked out
	// once per config (Specs) rather than every tick; a policy missing from it is
	// fingerprinted here.
	Specs map[string]string
	// NewName returns a fresh runner name for a policy.
	NewName func(Key) string
	// MaxLifetime sets the expiry of new runners; 0 means none.
	MaxLifetime time.Duration
	// Capacity is what the agent may hold at once (zero: no limit). When it is short,
	// the queued jobs of all policies get runners in the order of shared/queue, with
	// Config.Scheduling.MaxWait as its bound.
	Capacity Capacity
	// Scratch is memory to use again (nil: Reconcile makes its own).
	Scratch *Scratch
}

// Capacity is the agent's capacity: most runners, and the CPU (millicores) and memory
// (bytes) its runners request in total; a zero field is no limit.
type Capacity struct {
	MaxRunners  int
	CPUMilli    int64
	MemoryBytes int64
}

// Create asks for one new runner. Its record is already in Plan.Records (state creating,
// pending): Record is that one, and Policy points into Input.Config; neither is written.
type Create struct {
	Record *Record
	Policy *protocol.Policy
}

// Reap asks to remove one runner. Running means its process may be running: the server
// must remove it from GitHub first (a busy runner is refused there); otherwise the
// instance is deleted at once and GitHub is told afterwards, best effort.
type Reap struct {
	Record  Record
	Running bool
	Orphan  bool // the agent had no record of it
	// Lost: its instance vanished while it ran a job. Its registration must go at
	// GitHub too (retried while GitHub still calls it busy), since no process of its
	// own will end it there.
	Lost     bool
	Instance provider.Instance
}

// Provisioned is a runner seen running for the first time, After its creation began.
type Provisioned struct {
	Key   Key
	After time.Duration
}

// Plan is what Reconcile decided.
type Plan struct {
	// Records are the records' new states: the input's own pointers for those that did
	// not change, new ones for those that did. No record reached through Input.Records
	// or Plan.Records is ever written; change a copy and put that in.
	Records map[string]*Record
	Creates []Create
	Reaps   []Reap
	// Jobs is the per-job state for heartbeats: runner_requested, or waiting_for_capacity
	// with its 1-based position in the policy's queue. (A job that runs is GitHub's to
	// report, and the runner's state says which.)
	Jobs []protocol.JobStatus
	// Queues is the number of jobs waiting for capacity per policy.
	Queues map[Key]int
	// Provisioned are runners seen running for the first time, with the time it took.
	Provisioned []Provisioned
	// Warnings are problems worth a log line (unreadable schedule windows).
	Warnings []error
	// Backoff is the crash-loop state of the policies whose runners failed before taking
	// a job (the next Input.Backoff); a policy that works again is not in it.
	Backoff map[Key]Backoff
	// Changed: Records differ from Input.Records (a record changed, or one was added).
	// Reconcile never drops a record.
	Changed bool

	demands []demand // what the policies ask of the agent's capacity, while planning
}

// Hold keeps a policy from creating runners before Until, for Reason.
type Hold struct {
	Until  time.Time
	Reason string
}

// Reconcile compares what should run with what runs and returns the records' new states
// and the actions to take. It is pure: same input, same plan.
//
// Per policy: target = min(max_runners, busy + queued jobs + effective min_idle). Queued
// jobs are served oldest first; those beyond max_runners wait with a position. Runners
// are reaped when finished or failed, when idle beyond the target for idle_grace (at
// once above max_runners), when idle and made from an older definition of the policy
// (at once), when they did not start within bootstrap_timeout or let a queued job wait
// that long, and when the agent has no record of them. A busy runner is
// never reaped here, and a running one only after the server removed it from GitHub.
//
// A policy whose runner fails before taking a job backs off (Backoff): no creation
// before the hold ends, then one probe at a time until a runner takes a job; its queued
// jobs that would get a runner are reported backing_off, with the reason and the time.
func Reconcile(in Input) Plan {
	// A tick at 3,000 repositories (issue 15, BenchmarkReconcile) handles some twenty
	// thousand records, instances and jobs, so: the plan's records start as the input's
	// pointers (a record that changes gets a new one; none is written through), each
	// policy's jobs and records are laid out in one slice (group) found through one
	// index, and the maps below are sized up front and hold pointers into the input
	// (never written through) rather than copies.
	p := Plan{Records: maps.Clone(in.Records), Backoff: map[Key]Backoff{}}
	if p.Records == nil {
		p.Records = map[string]*Record{}
	}
	mem := in.Scratch
	if mem == nil {
		mem = &Scratch{}
	}
	defer mem.done()
	var owned map[string]bool
	ix := groupIndex{at: reuse(&mem.at, 0), groups: mem.groups[:0]}
	if in.Config != nil {
		ix.at = reuse(&mem.at, len(in.Config.Policies))
		owned = reuse(&mem.owned, len(in.Config.Repositories))
		for i := range in.Config.Policies {
			pol := &in.Config.Policies[i]
			ix.of(Key{pol.Repository, pol.Name}).pol = pol // of two of the same key, the last
		}
		for _, r := range in.Config.Repositories {
			owned[r] = true
		}
	}
	npolicies := len(ix.groups)
	// Jobs are taken oldest first (jobOrder): each policy's queue is sorted on its own,
	// and of two in_progress jobs naming the same runner the later one counts.
	var busyJob map[string]*protocol.Job // runner name → its in_progress job
	nqueued := 0
	if in.Jobs != nil {
		busyJob = reuse(&mem.busyJob, len(in.Jobs.Jobs))
		queued := mem.queued[:0]
		for i := range in.Jobs.Jobs {
			j := &in.Jobs.Jobs[i]
			switch j.Status {
			case jobInProgress:
				if j.RunnerName != "" {
					if had, ok := busyJob[j.RunnerName]; !ok || jobOrder(j, had) >= 0 {
						busyJob[j.RunnerName] = j
					}
				}
			case jobQueued:
				if g, ok := ix.at[Key{j.Repository, j.Policy}]; ok && j.Policy != "" {
					queued = append(queued, member[*protocol.Job]{g, j})
				}
			}
		}
		nqueued, mem.queued = len(queued), queued
		layOut(ix.groups, queued, func(g *group) *[]*protocol.Job { return &g.queued })
		for i := range ix.groups {
			slices.SortStableFunc(ix.groups[i].queued, jobOrder)
		}
	}

	// Instances: ours (our agent id, or a repository we own) by runner name. Another
	// agent's runner of a repository we own is ours only when it was made for our
	// installation's policy (its policy id): agents of another Garo installation may use
	// the same provider (a shared Docker engine) for a repository of the same name, and
	// their runners are none of our business. One without the label (an older agent's)
	// is taken to be ours, as before.
	// Each record's state from its instance and the jobs (look, below): of those that
	// have an instance, as the instance is found (looking the name up once more for each
	// record was the largest cost of a tick with 15,000 runners: the names' strings are
	// all over the heap); then of the others.
	recs := mem.recs[:0]
	look := func(name string, orig *Record, ip *provider.Instance, has bool) {
		g, r := p.look(&in, &ix, name, orig, ip, has, busyJob)
		recs = append(recs, member[*Record]{g, r})
	}
	mine := reuse(&mem.mine, len(in.Inventory)) // → its index in the inventory
	// Per instance: ours (1), and ours with a record (2).
	status := make([]uint8, len(in.Inventory))
	insts := &instances{inv: in.Inventory}
	var unknown []provider.Instance
	for i := range in.Inventory {
		inst := &in.Inventory[i]
		if inst.State == provider.StateGone {
			continue
		}
		l := inst.Labels
		ours := l[provider.LabelAgentID] == in.AgentID ||
			(in.Config != nil && owned[l[provider.LabelRepository]] &&
				(l[provider.LabelPolicyID] == "" || l[provider.LabelPolicyID] == policyID(ix.policy(Key{l[provider.LabelRepository], l[provider.LabelPolicy]}))))
		if !ours {
			continue
		}
		name := inst.Labels[provider.LabelRunner]
		if _, dup := mine[name]; dup || name == "" {
			unknown = append(unknown, *inst) // a second instance of a name is never ours
			continue
		}
		r, ok := in.Records[name]
		if ok && r.ProviderID != "" && r.ProviderID != inst.ID {
			unknown = append(unknown, *inst)
			continue
		}
		mine[name], status[i] = int32(i), 1
		if ok {
			status[i] = 2
			look(name, r, inst, true)
		}
	}
	if len(recs) < len(in.Records) {
		for name, r := range in.Records {
			if _, has := mine[name]; !has {
				look(name, r, &noInstance, false)
			}
		}
	}

	for i := range ix.groups {
		if g := &ix.groups[i]; g.hasFailed {
			g.failed += ": " + p.Records[g.failed].Reason
		}
	}
	// Instances without a record: a busy one is adopted (a busy runner is never
	// removed), and so is a runner another agent left on a repository this agent now
	// serves; the others are orphans.
	for i := range in.Inventory {
		if status[i] != 1 {
			continue
		}
		inst := in.Inventory[i]
		r, ok := fromInstance(inst, in.Now)
		j, busy := busyJob[r.Name]
		switch {
		case ok && busy:
			r.State, r.JobID, r.TookJob, r.Provisioned = protocol.RunnerBusy, j.ID, true, true
			gi := ix.index(r.Key)
			ix.groups[gi].took = true
			recs = append(recs, member[*Record]{gi, p.add(r)})
		case ok && inst.Labels[provider.LabelAgentID] != in.AgentID:
			r.Provisioned = inst.State == provider.StateRunning
			gi := ix.index(r.Key)
			observe(&in, &r, &inst, true, busyJob, ix.groups[gi].queued, ix.groups[gi].pol)
			recs = append(recs, member[*Record]{gi, p.add(r)})
		default:
			unknown = append(unknown, inst)
		}
	}
	// Orphans become failed records on their way out, so that a refused or failed
	// removal is retried with the same care as any other.
	for _, inst := range unknown {
		r, _ := fromInstance(inst, in.Now)
		r.ProviderID, r.State, r.Since, r.Reason = inst.ID, protocol.RunnerFailed, in.Now, "orphan: the agent has no record of it"
		if r.Name == "" {
			r.Name = inst.ID
		}
		if have, taken := p.Records[r.Name]; taken {
			if have.ProviderID == inst.ID {
				continue // already on its way out
			}
			r.Name += "#" + inst.ID
			if have, taken := p.Records[r.Name]; taken && have.ProviderID == inst.ID {
				continue
			}
		}
		r.Pending = true
		recs = append(recs, member[*Record]{ix.index(r.Key), p.add(r)})
		// Only an orphan the server can name (its repository, and its own runner name)
		// is removed from GitHub first: for an unlabelled one, or a second instance of a
		// name another record holds, the server refuses the request (or would remove the
		// other runner), so its instance just goes.
		named := r.Repository != "" && r.Policy != "" && r.Name == inst.Labels[provider.LabelRunner]
		p.Reaps = append(p.Reaps, Reap{Record: r, Running: named && inst.State == provider.StateRunning, Orphan: true, Instance: inst})
	}

	// Each policy looks at its own records only: laid out per group once, so that a tick
	// stays linear in the runners of an agent that serves thousands of repositories.
	mem.recs, mem.groups = recs, ix.groups
	layOut(ix.groups, recs, func(g *group) *[]*Record { return &g.recs })
	order := make([]int32, len(ix.groups))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ka, kb := ix.groups[a].key, ix.groups[b].key
		return cmp.Or(cmp.Compare(ka.Repository, kb.Repository), cmp.Compare(ka.Policy, kb.Policy))
	})
	p.Queues = make(map[Key]int, npolicies)
	p.Jobs = make([]protocol.JobStatus, 0, nqueued)
	p.demands = make([]demand, 0, len(order))
	var sc scratch
	for _, i := range order {
		g := &ix.groups[i]
		k := g.key
		b := in.Backoff[k]
		if g.took {
			b = Backoff{} // a runner of the policy took a job: it works
		}
		if g.hasFailed {
			b = b.Failed(in.Now, g.failed, in.CrashBackoff, in.AgentID+"/"+k.String())
		}
		if g.pol != nil && b.Failures > 0 {
			p.Backoff[k] = b
		}
		p.schedule(in, g, insts, b, &sc)
	}
	p.allocate(in)
	for i := range p.demands {
		p.emit(in, &p.demands[i])
	}
	p.demands = nil
	slices.SortFunc(p.Reaps, func(a, b Reap) int { return cmp.Compare(a.Record.Name, b.Record.Name) })
	return p
}

// add puts a new record into the plan and returns it.
func (p *Plan) add(r Record) *Record {
	np := new(Record)
	*np = r
	p.Records[r.Name] = np
	p.Changed = true
	return np
}

// jobOrder orders jobs oldest first, then by id.
func jobOrder(a, b *protocol.Job) int {
	return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.ID, b.ID))
}

func policyID(pol *protocol.Policy) string {
	if pol == nil {
		return ""
	}
	return pol.ID
}
