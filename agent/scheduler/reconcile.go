package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/guardrails"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/queue"
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

// add puts a new record into the plan and returns it.
func (p *Plan) add(r Record) *Record {
	np := new(Record)
	*np = r
	p.Records[r.Name] = np
	p.Changed = true
	return np
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

// specOf is SpecOf(pol), from in.Specs when it is there.
func specOf(in Input, pol *protocol.Policy) string {
	if s, ok := in.Specs[pol.ID]; ok && pol.ID != "" {
		return s
	}
	return SpecOf(*pol)
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
