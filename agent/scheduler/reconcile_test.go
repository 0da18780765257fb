package scheduler_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/shared/protocol"
)

const (
	agentID = "agent-1"
	repo    = "acme/api"
)

var t0 = time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC) // a Monday

func policy(name string, minIdle, maxRunners int) protocol.Policy {
	return protocol.Policy{
		ID: "p-" + name, Repository: repo, Name: name, Labels: []string{"self-hosted", name},
		MinIdle: minIdle, MaxRunners: maxRunners, Ephemeral: true,
		IdleGrace: protocol.Duration(5 * time.Minute), BootstrapTimeout: protocol.Duration(3 * time.Minute),
		Runner: protocol.Policy{}.Runner,
	}
}

func config(ps ...protocol.Policy) *protocol.Config {
	return &protocol.Config{Version: "c1", AgentID: agentID, Repositories: []string{repo}, Policies: ps}
}

func queued(id int64, pol string, at time.Time) protocol.Job {
	return protocol.Job{ID: id, Repository: repo, Policy: pol, Status: "queued", ReceivedAt: at}
}

func running(id int64, pol, runner string) protocol.Job {
	return protocol.Job{ID: id, Repository: repo, Policy: pol, Status: "in_progress", RunnerName: runner, ReceivedAt: t0.Add(-time.Hour)}
}

func jobs(js ...protocol.Job) *protocol.JobsSnapshot {
	return &protocol.JobsSnapshot{Version: "j1", Jobs: js}
}

// inst is an instance of the agent named name, of policy pol.
func inst(name, pol string, state provider.State) provider.Instance {
	return provider.Instance{
		ID: "id-" + name, Name: name, State: state, CreatedAt: t0.Add(-time.Hour),
		Labels: scheduler.Labels(agentID, scheduler.Record{Name: name, Key: scheduler.Key{Repository: repo, Policy: pol}, CreatedAt: t0.Add(-time.Hour), RunnerID: 100}),
	}
}

// rec is a record of a runner named name in state st since since.
func rec(name, pol string, st protocol.RunnerState, since time.Time) scheduler.Record {
	r := scheduler.Record{
		Name: name, Key: scheduler.Key{Repository: repo, Policy: pol}, ProviderID: "id-" + name, RunnerID: 100,
		State: st, Ephemeral: true, CreatedAt: since, Since: since, Provisioned: true,
	}
	if st == protocol.RunnerBusy {
		r.TookJob = true
	}
	return r
}

func records(rs ...scheduler.Record) map[string]*scheduler.Record {
	m := map[string]*scheduler.Record{}
	for _, r := range rs {
		m[r.Name] = &r
	}
	return m
}

func names() func(scheduler.Key) string {
	n := 0
	return func(k scheduler.Key) string {
		n++
		return fmt.Sprintf("new-%s-%d", k.Policy, n)
	}
}

func input(cfg *protocol.Config, js *protocol.JobsSnapshot, inv []provider.Instance, recs map[string]*scheduler.Record) scheduler.Input {
	return scheduler.Input{Now: t0, AgentID: agentID, Config: cfg, Jobs: js, Inventory: inv, Records: recs, NewName: names()}
}

func createdFor(p scheduler.Plan) []int64 {
	var out []int64
	for _, c := range p.Creates {
		out = append(out, c.Record.ForJob)
	}
	return out
}

func reaped(p scheduler.Plan) []string {
	var out []string
	for _, r := range p.Reaps {
		out = append(out, r.Record.Name)
	}
	return out
}

func waiting(p scheduler.Plan) []string {
	var out []string
	for _, j := range p.Jobs {
		if j.State == protocol.JobWaitingForCapacity {
			out = append(out, fmt.Sprintf("%d@%d", j.JobID, j.Position))
		}
	}
	return out
}

// backingOff lists the jobs the plan reports backing off: "id until hh:mm:ss (reason)".
func backingOff(p scheduler.Plan) []string {
	var out []string
	for _, j := range p.Jobs {
		if j.State == protocol.JobBackingOff {
			until := "-"
			if j.RetryAt != nil {
				until = j.RetryAt.Format(time.TimeOnly)
			}
			out = append(out, fmt.Sprintf("%d until %s (%s)", j.JobID, until, j.Reason))
		}
	}
	return out
}

func equal[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestMinIdleAndMax(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		minIdle, max         int
		recs                 []scheduler.Record
		jobs                 []protocol.Job
		wantCreates          []int64
		wantWaiting          []string
		wantQueue            int
		wantRequestedRunners map[int64]string
	}{
		{name: "min idle from nothing", minIdle: 2, max: 5, wantCreates: []int64{0, 0}},
		{name: "min idle capped by max", minIdle: 4, max: 3, wantCreates: []int64{0, 0, 0}},
		{name: "min idle already there", minIdle: 1, max: 5,
			recs: []scheduler.Record{rec("r1", "small", protocol.RunnerIdle, t0)}},
		{name: "queued jobs and min idle", minIdle: 1, max: 10,
			jobs:        []protocol.Job{queued(1, "small", t0), queued(2, "small", t0)},
			wantCreates: []int64{1, 2, 0}},
		{name: "busy runners do not count as idle", minIdle: 1, max: 10,
			recs:        []scheduler.Record{rec("b1", "small", protocol.RunnerBusy, t0), rec("b2", "small", protocol.RunnerBusy, t0)},
			jobs:        []protocol.Job{running(7, "small", "b1"), running(8, "small", "b2"), queued(9, "small", t0)},
			wantCreates: []int64{9, 0}},
		{name: "beyond max the jobs wait in order", max: 3,
			jobs: []protocol.Job{
				queued(10, "small", t0.Add(5*time.Second)), queued(11, "small", t0.Add(1*time.Second)),
				queued(12, "small", t0.Add(2*time.Second)), queued(13, "small", t0.Add(3*time.Second)),
				queued(14, "small", t0.Add(4*time.Second)),
			},
			wantCreates: []int64{11, 12, 13}, wantWaiting: []string{"14@1", "10@2"}, wantQueue: 2},
		{name: "available runners cover the oldest jobs", max: 10,
			recs:        []scheduler.Record{rec("i1", "small", protocol.RunnerIdle, t0), rec("c1", "small", protocol.RunnerBooting, t0)},
			jobs:        []protocol.Job{queued(1, "small", t0), queued(2, "small", t0.Add(time.Second)), queued(3, "small", t0.Add(2*time.Second))},
			wantCreates: []int64{3}},
		{name: "at max with busy runners everything waits", max: 2,
			recs:        []scheduler.Record{rec("b1", "small", protocol.RunnerBusy, t0), rec("b2", "small", protocol.RunnerBusy, t0)},
			jobs:        []protocol.Job{running(1, "small", "b1"), running(2, "small", "b2"), queued(3, "small", t0), queued(4, "small", t0.Add(time.Second))},
			wantWaiting: []string{"3@1", "4@2"}, wantQueue: 2},
		{name: "runner names reported for requested jobs", max: 5,
			recs: []scheduler.Record{func() scheduler.Record {
				r := rec("c1", "small", protocol.RunnerBooting, t0)
				r.ForJob = 1
				return r
			}()},
			jobs:                 []protocol.Job{queued(1, "small", t0), queued(2, "small", t0.Add(time.Second))},
			wantCreates:          []int64{2},
			wantRequestedRunners: map[int64]string{1: "c1", 2: "new-small-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var inv []provider.Instance
			for _, r := range tc.recs {
				st := provider.StateRunning
				if r.State == protocol.RunnerBooting {
					st = provider.StateCreated
				}
				inv = append(inv, inst(r.Name, r.Policy, st))
			}
			p := scheduler.Reconcile(input(config(policy("small", tc.minIdle, tc.max)), jobs(tc.jobs...), inv, records(tc.recs...)))
			equal(t, "creates for jobs", createdFor(p), tc.wantCreates)
			equal(t, "waiting", waiting(p), tc.wantWaiting)
			equal(t, "reaps", reaped(p), nil)
			if got := p.Queues[scheduler.Key{Repository: repo, Policy: "small"}]; got != tc.wantQueue {
				t.Errorf("queue length %d, want %d", got, tc.wantQueue)
			}
			for _, c := range p.Creates {
				r := p.Records[c.Record.Name]
				if r.State != protocol.RunnerCreating || !r.Pending || r.CreatedAt != t0 {
					t.Errorf("new record %+v", r)
				}
			}
			for id, runner := range tc.wantRequestedRunners {
				found := false
				for _, j := range p.Jobs {
					if j.JobID == id {
						found = true
						if j.State != protocol.JobRunnerRequested || j.Runner != runner {
							t.Errorf("job %d reported %+v, want runner_requested by %s", id, j, runner)
						}
					}
				}
				if !found {
					t.Errorf("job %d not reported", id)
				}
			}
		})
	}
}

// Jobs are counted for their own policy only: another policy of the repository, an
// unmatched job and a job of a policy the agent does not serve change nothing.
func TestPolicySelection(t *testing.T) {
	t.Parallel()
	other := protocol.Job{ID: 90, Repository: "other/repo", Policy: "small", Status: "queued", ReceivedAt: t0}
	p := scheduler.Reconcile(input(config(policy("small", 0, 5), policy("gpu", 0, 1)), jobs(
		queued(1, "gpu", t0), queued(2, "gpu", t0.Add(time.Second)), queued(3, "small", t0.Add(2*time.Second)),
		queued(4, "", t0), queued(5, "unknown", t0), other,
		protocol.Job{ID: 6, Repository: repo, Policy: "small", Status: "waiting", ReceivedAt: t0},
	), nil, nil))
	got := map[string][]int64{}
	for _, c := range p.Creates {
		got[c.Record.Policy] = append(got[c.Record.Policy], c.Record.ForJob)
		if c.Policy.Name != c.Record.Policy {
			t.Errorf("create of %s carries policy %s", c.Record.Policy, c.Policy.Name)
		}
	}
	equal(t, "gpu creates", got["gpu"], []int64{1})
	equal(t, "small creates", got["small"], []int64{3})
	equal(t, "waiting", waiting(p), []string{"2@1"})
}

func TestIdleGraceAndSurplus(t *testing.T) {
	t.Parallel()
	recs := records(
		rec("i1", "small", protocol.RunnerIdle, t0.Add(-10*time.Minute)),
		rec("i2", "small", protocol.RunnerIdle, t0.Add(-6*time.Minute)),
		rec("i3", "small", protocol.RunnerIdle, t0.Add(-1*time.Minute)),
		rec("b1", "small", protocol.RunnerBusy, t0.Add(-20*time.Minute)),
	)
	inv := []provider.Instance{inst("i1", "small", provider.StateRunning), inst("i2", "small", provider.StateRunning),
		inst("i3", "small", provider.StateRunning), inst("b1", "small", provider.StateRunning)}
	js := jobs(running(1, "small", "b1"))
	// min_idle 1 keeps one; of the two surplus, only those idle past the grace go,
	// longest idle first; the busy one stays.
	p := scheduler.Reconcile(input(config(policy("small", 1, 10)), js, inv, recs))
	equal(t, "reaped", reaped(p), []string{"i1", "i2"})
	for _, r := range p.Reaps {
		if !r.Running || !strings.Contains(r.Record.Reason, "idle") {
			t.Errorf("reap %+v: want a running idle runner", r)
		}
		if !p.Records[r.Record.Name].Pending {
			t.Errorf("reaped record %s not pending", r.Record.Name)
		}
	}
	// Before the grace, nothing goes.
	in := input(config(policy("small", 1, 10)), js, inv, recs)
	in.Now = t0.Add(-6 * time.Minute)
	equal(t, "reaped before grace", reaped(scheduler.Reconcile(in)), nil)
	// A pending or refused one is left alone.
	refused := *recs["i1"]
	refused.RetryAt = t0.Add(time.Minute)
	pending := *recs["i2"]
	pending.Pending = true
	p = scheduler.Reconcile(input(config(policy("small", 1, 10)), js, inv, records(refused, pending, *recs["i3"], *recs["b1"])))
	equal(t, "reaped with one refused and one pending", reaped(p), nil)
}

// Lowering max_runners never touches a busy runner; idle ones above max go at once.
func TestLoweringMax(t *testing.T) {
	t.Parallel()
	recs := records(
		rec("b1", "small", protocol.RunnerBusy, t0), rec("b2", "small", protocol.RunnerBusy, t0), rec("b3", "small", protocol.RunnerBusy, t0),
		rec("i1", "small", protocol.RunnerIdle, t0), rec("i2", "small", protocol.RunnerIdle, t0),
	)
	var inv []provider.Instance
	for n := range recs {
		inv = append(inv, inst(n, "small", provider.StateRunning))
	}
	js := jobs(running(1, "small", "b1"), running(2, "small", "b2"), running(3, "small", "b3"), queued(4, "small", t0))
	p := scheduler.Reconcile(input(config(policy("small", 2, 1)), js, inv, recs))
	equal(t, "reaped", reaped(p), []string{"i1", "i2"})
	equal(t, "creates", createdFor(p), nil)
	equal(t, "waiting", waiting(p), []string{"4@1"})
	for _, n := range []string{"b1", "b2", "b3"} {
		if p.Records[n].State != protocol.RunnerBusy || p.Records[n].Pending {
			t.Errorf("busy runner %s: %+v", n, p.Records[n])
		}
	}
}

func TestBootstrapTimeoutAndFailures(t *testing.T) {
	t.Parallel()
	pol := policy("small", 0, 2)
	young, old := t0.Add(-time.Minute), t0.Add(-4*time.Minute)
	for _, tc := range []struct {
		name        string
		rec         scheduler.Record
		inst        *provider.Instance
		jobs        []protocol.Job
		wantState   protocol.RunnerState
		wantReap    bool
		wantRunning bool
		wantReason  string
		wantCreates []int64
		// wantFailures is the policy's crash-loop count after the round: a runner that
		// failed before taking a job counts, and holds the policy's creations back.
		wantFailures int
	}{
		{name: "not started yet", rec: rec("r", "small", protocol.RunnerBooting, young), inst: ptr(inst("r", "small", provider.StateCreated)),
			wantState: protocol.RunnerBooting},
		{name: "not started within bootstrap timeout", rec: rec("r", "small", protocol.RunnerBooting, old), inst: ptr(inst("r", "small", provider.StateCreated)),
			wantState: protocol.RunnerFailed, wantReap: true, wantReason: "not started", wantFailures: 1},
		{name: "running counts as idle", rec: rec("r", "small", protocol.RunnerBooting, young), inst: ptr(inst("r", "small", provider.StateRunning)),
			wantState: protocol.RunnerIdle},
		{name: "hung: a queued job waited the whole bootstrap timeout", rec: rec("r", "small", protocol.RunnerIdle, old),
			inst: ptr(inst("r", "small", provider.StateRunning)), jobs: []protocol.Job{queued(5, "small", old.Add(-time.Minute))},
			wantState: protocol.RunnerFailed, wantReap: true, wantRunning: true, wantReason: "not online",
			wantFailures: 1}, // no replacement for job 5 before the back-off
		{name: "a job that arrived recently is not the runner's fault", rec: rec("r", "small", protocol.RunnerIdle, old),
			inst: ptr(inst("r", "small", provider.StateRunning)), jobs: []protocol.Job{queued(5, "small", young)},
			wantState: protocol.RunnerIdle},
		{name: "exited cleanly: done with a job the agent did not see", rec: rec("r", "small", protocol.RunnerIdle, young),
			inst: ptr(inst("r", "small", provider.StateExited)), wantState: protocol.RunnerFinished, wantReap: true},
		{name: "exited before taking a job", rec: rec("r", "small", protocol.RunnerIdle, young),
			inst:      ptr(func() provider.Instance { i := inst("r", "small", provider.StateExited); i.ExitCode = 2; return i }()),
			wantState: protocol.RunnerFailed, wantReap: true, wantReason: "exited with code 2", wantFailures: 1},
		{name: "disappeared behind the agent's back", rec: rec("r", "small", protocol.RunnerIdle, young),
			wantState: protocol.RunnerFailed, wantReap: true, wantReason: "disappeared", wantFailures: 1},
		{name: "ephemeral runner done with its job exits", rec: func() scheduler.Record {
			r := rec("r", "small", protocol.RunnerBusy, young)
			r.JobID = 3
			return r
		}(), inst: ptr(inst("r", "small", provider.StateExited)), wantState: protocol.RunnerFinished, wantReap: true},
		{name: "ephemeral runner done with its job still running", rec: rec("r", "small", protocol.RunnerBusy, young),
			inst: ptr(inst("r", "small", provider.StateRunning)), wantState: protocol.RunnerFinished, wantReap: true, wantRunning: true},
		{name: "busy runner", rec: rec("r", "small", protocol.RunnerIdle, old), inst: ptr(inst("r", "small", provider.StateRunning)),
			jobs: []protocol.Job{running(3, "small", "r"), queued(5, "small", old.Add(-time.Minute))}, wantState: protocol.RunnerBusy,
			wantCreates: []int64{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var inv []provider.Instance
			if tc.inst != nil {
				inv = append(inv, *tc.inst)
			}
			p := scheduler.Reconcile(input(config(pol), jobs(tc.jobs...), inv, records(tc.rec)))
			got := p.Records["r"]
			if got.State != tc.wantState || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("state %s (%s), want %s (%s)", got.State, got.Reason, tc.wantState, tc.wantReason)
			}
			if len(p.Reaps) != map[bool]int{true: 1}[tc.wantReap] {
				t.Fatalf("reaps %+v, want reap %v", p.Reaps, tc.wantReap)
			}
			if tc.wantReap && p.Reaps[0].Running != tc.wantRunning {
				t.Errorf("reap running = %v, want %v", p.Reaps[0].Running, tc.wantRunning)
			}
			equal(t, "creates", createdFor(p), tc.wantCreates)
			b := p.Backoff[scheduler.Key{Repository: repo, Policy: "small"}]
			if b.Failures != tc.wantFailures || (b.Failures > 0) != b.Until.After(t0) {
				t.Errorf("back-off %+v, want %d failures", b, tc.wantFailures)
			}
		})
	}
}

// A failed runner whose instance still runs holds its place against max_runners until
// it is gone.
func TestDyingRunnersHoldCapacity(t *testing.T) {
	t.Parallel()
	old := t0.Add(-4 * time.Minute)
	hung := rec("r", "small", protocol.RunnerIdle, old)
	inv := []provider.Instance{inst("r", "small", provider.StateRunning)}
	js := jobs(queued(5, "small", old.Add(-time.Minute)))
	p := scheduler.Reconcile(input(config(policy("small", 0, 1)), js, inv, records(hung)))
	equal(t, "reaped", reaped(p), []string{"r"})
	equal(t, "creates at max 1", createdFor(p), nil)
	equal(t, "waiting", waiting(p), []string{"5@1"})
	// Next round, the reap still under way: still no room.
	p = scheduler.Reconcile(input(config(policy("small", 0, 1)), js, inv, p.Records))
	equal(t, "creates while the hung one is removed", createdFor(p), nil)
	equal(t, "reaps", reaped(p), nil)
}

func ptr[T any](v T) *T { return &v }

func TestOrphansAndAdoption(t *testing.T) {
	t.Parallel()
	foreign := inst("f1", "small", provider.StateRunning)
	foreign.Labels[provider.LabelAgentID] = "agent-old"
	elsewhere := inst("x1", "small", provider.StateRunning)
	elsewhere.Labels[provider.LabelAgentID] = "agent-other"
	elsewhere.Labels[provider.LabelRepository] = "other/repo"
	noLabels := provider.Instance{ID: "id-bare", State: provider.StateExited,
		Labels: map[string]string{provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelAgentID: agentID}}
	inv := []provider.Instance{
		inst("o1", "small", provider.StateRunning), // ours, unknown, idle: orphan
		inst("o2", "small", provider.StateExited),  // ours, unknown, exited: orphan
		inst("o3", "small", provider.StateRunning), // ours, unknown, busy: adopted
		foreign, elsewhere, noLabels,
	}
	js := jobs(running(1, "small", "o3"))
	p := scheduler.Reconcile(input(config(policy("small", 0, 10)), js, inv, nil))
	equal(t, "reaped", reaped(p), []string{"id-bare", "o1", "o2"})
	for _, r := range p.Reaps {
		if !r.Orphan || r.Running != (r.Record.Name == "o1") {
			t.Errorf("reap %+v", r)
		}
	}
	if r := p.Records["o3"]; r.State != protocol.RunnerBusy || r.JobID != 1 {
		t.Errorf("busy orphan not adopted: %+v", r)
	}
	if r, ok := p.Records["f1"]; !ok || r.State != protocol.RunnerIdle {
		t.Errorf("runner of an owned repository left by another agent not adopted: %+v", r)
	}
	if _, ok := p.Records["x1"]; ok {
		t.Error("another agent's runner of a repository this agent does not serve was touched")
	}
	// The orphans' records are pending: the next round does not reap them twice.
	p2 := scheduler.Reconcile(input(config(policy("small", 0, 10)), js, inv, p.Records))
	equal(t, "reaped again", reaped(p2), nil)
}

// Agents of another Garo installation may keep runners of a repository of the same name
// on the same provider (a shared Docker engine, or test binaries running side by side):
// their runners carry another policy id, and this agent neither adopts nor reaps them,
// running or exited, of a policy it knows by name or not. A runner of this
// installation's policy that another agent left is adopted, as before.
func TestAnotherInstallationsRunnersAreLeftAlone(t *testing.T) {
	t.Parallel()
	pol := policy("small", 0, 10)
	of := func(name, polName, agent, policyID string, st provider.State) provider.Instance {
		in := inst(name, polName, st)
		in.Labels[provider.LabelAgentID] = agent
		in.Labels[provider.LabelPolicyID] = policyID
		return in
	}
	inv := []provider.Instance{
		of("left", "small", "agent-old", pol.ID, provider.StateRunning),
		of("theirs", "small", "agent-elsewhere", "p-elsewhere-small", provider.StateRunning),
		of("theirs-done", "small", "agent-elsewhere", "p-elsewhere-small", provider.StateExited),
		of("theirs-big", "big", "agent-elsewhere", "p-elsewhere-big", provider.StateRunning),
	}
	p := scheduler.Reconcile(input(config(pol), jobs(), inv, nil))
	equal(t, "reaped", reaped(p), nil)
	if r, ok := p.Records["left"]; !ok || r.State != protocol.RunnerIdle {
		t.Errorf("runner of this installation's policy left by another agent not adopted: %+v", r)
	}
	for _, name := range []string{"theirs", "theirs-done", "theirs-big"} {
		if r, ok := p.Records[name]; ok {
			t.Errorf("another installation's runner %s taken: %v", name, r)
		}
	}
	// The runners this agent makes carry their policy's id, so that others can tell.
	p = scheduler.Reconcile(input(config(pol), jobs(queued(1, "small", t0)), nil, nil))
	if len(p.Creates) != 1 || scheduler.Labels(agentID, *p.Creates[0].Record)[provider.LabelPolicyID] != pol.ID {
		t.Errorf("creates %+v: want one with the label %s=%s", p.Creates, provider.LabelPolicyID, pol.ID)
	}
}

// After a restart, Adopt rebuilds the records from labels and Reconcile carries on
// without duplicates: adopted runners cover queued jobs, exited ones go.
func TestRestartRebuild(t *testing.T) {
	t.Parallel()
	inv := []provider.Instance{
		inst("busy", "small", provider.StateRunning),
		inst("idle", "small", provider.StateRunning),
		inst("done", "small", provider.StateExited),
	}
	foreign := inst("foreign", "small", provider.StateRunning)
	foreign.Labels[provider.LabelAgentID] = "someone-else"
	inv = append(inv, foreign)
	recs := scheduler.Adopt(agentID, inv, nil, t0)
	if len(recs) != 3 || recs["busy"].RunnerID != 100 || !recs["busy"].CreatedAt.Equal(t0.Add(-time.Hour).Truncate(time.Second)) {
		t.Fatalf("adopted %+v", recs)
	}
	js := jobs(running(1, "small", "busy"), queued(2, "small", t0), queued(3, "small", t0.Add(time.Second)),
		queued(4, "small", t0.Add(2*time.Second)), queued(5, "small", t0.Add(3*time.Second)), queued(6, "small", t0.Add(4*time.Second)))
	in := input(config(policy("small", 0, 4)), js, inv, recs)
	in.Config.Repositories = nil // the foreign runner's repository is not this agent's here
	p := scheduler.Reconcile(in)
	equal(t, "creates", createdFor(p), []int64{3, 4})
	equal(t, "waiting", waiting(p), []string{"5@1", "6@2"})
	equal(t, "reaped", reaped(p), []string{"done"})
	if p.Records["busy"].State != protocol.RunnerBusy || p.Records["idle"].State != protocol.RunnerIdle {
		t.Errorf("records %+v", p.Records)
	}
	if _, ok := p.Records["foreign"]; ok {
		t.Error("adopted another agent's runner")
	}
}

func TestDrainingBlockedAndUnknown(t *testing.T) {
	t.Parallel()
	recs := records(rec("i1", "small", protocol.RunnerIdle, t0), rec("b1", "small", protocol.RunnerBusy, t0))
	inv := []provider.Instance{inst("i1", "small", provider.StateRunning), inst("b1", "small", provider.StateRunning),
		inst("gone", "small", provider.StateExited)}
	js := jobs(running(1, "small", "b1"), queued(2, "small", t0))

	in := input(config(policy("small", 1, 5)), js, inv, recs)
	in.Draining = true
	p := scheduler.Reconcile(in)
	equal(t, "draining creates", createdFor(p), nil)
	equal(t, "draining reaps", reaped(p), []string{"gone", "i1"})
	for _, r := range p.Reaps {
		if r.Record.Name == "i1" && r.Record.Reason != "the agent is draining" {
			t.Errorf("idle runner reaped while draining with reason %q", r.Record.Reason)
		}
	}

	in = input(config(policy("small", 0, 5)), jobs(queued(2, "small", t0), queued(3, "small", t0)), nil, nil)
	in.Blocked = map[scheduler.Key]scheduler.Hold{{Repository: repo, Policy: "small"}: {Until: t0.Add(time.Second), Reason: "no runner credentials"}}
	p = scheduler.Reconcile(in)
	equal(t, "blocked creates", createdFor(p), nil)
	equal(t, "blocked waiting", waiting(p), nil)
	equal(t, "blocked backing off", backingOff(p), []string{"2 until 12:00:01 (no runner credentials)", "3 until 12:00:01 (no runner credentials)"})

	// Without config or jobs: nothing is created and running runners stay, but exited
	// ones are still reaped (a server outage at start).
	for _, in := range []scheduler.Input{input(nil, js, inv, recs), input(config(policy("small", 3, 5)), nil, inv, recs)} {
		p = scheduler.Reconcile(in)
		equal(t, "creates without config or jobs", createdFor(p), nil)
		equal(t, "reaps without config or jobs", reaped(p), []string{"gone"})
	}
}

func TestPolicyNoLongerServed(t *testing.T) {
	t.Parallel()
	recs := records(rec("i1", "old", protocol.RunnerIdle, t0), rec("b1", "old", protocol.RunnerBusy, t0))
	inv := []provider.Instance{inst("i1", "old", provider.StateRunning), inst("b1", "old", provider.StateRunning)}
	p := scheduler.Reconcile(input(config(policy("small", 0, 5)), jobs(running(1, "old", "b1")), inv, recs))
	equal(t, "reaped", reaped(p), []string{"i1"})
	if !strings.Contains(p.Reaps[0].Record.Reason, "no longer served") || !p.Reaps[0].Running {
		t.Errorf("reap %+v", p.Reaps[0])
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	idle := rec("i1", "small", protocol.RunnerIdle, t0)
	idle.Expiry = t0
	busy := rec("b1", "small", protocol.RunnerBusy, t0)
	busy.Expiry = t0.Add(-time.Hour)
	inv := []provider.Instance{inst("i1", "small", provider.StateRunning), inst("b1", "small", provider.StateRunning)}
	in := input(config(policy("small", 2, 5)), jobs(running(1, "small", "b1")), inv, records(idle, busy))
	in.MaxLifetime = time.Hour
	p := scheduler.Reconcile(in)
	equal(t, "reaped", reaped(p), []string{"i1"})
	for _, c := range p.Creates {
		if !c.Record.Expiry.Equal(t0.Add(time.Hour)) {
			t.Errorf("new runner expiry %s", c.Record.Expiry)
		}
	}
	// min_idle 2: the expired one is replaced.
	if len(p.Creates) != 2 {
		t.Errorf("creates %d, want 2", len(p.Creates))
	}
}

// Reconcile is pure: the input's records are not changed.
func TestReconcileDoesNotChangeItsInput(t *testing.T) {
	t.Parallel()
	recs := records(rec("i1", "small", protocol.RunnerIdle, t0.Add(-time.Hour)))
	before := *recs["i1"]
	p := scheduler.Reconcile(input(config(policy("small", 0, 5)), jobs(), []provider.Instance{inst("i1", "small", provider.StateRunning)}, recs))
	if len(p.Reaps) != 1 || *recs["i1"] != before {
		t.Fatalf("reaps %v; input record now %+v", p.Reaps, recs["i1"])
	}
}

func TestProvisioned(t *testing.T) {
	t.Parallel()
	r := rec("r", "small", protocol.RunnerBooting, t0.Add(-42*time.Second))
	r.Provisioned = false
	p := scheduler.Reconcile(input(config(policy("small", 1, 5)), jobs(), []provider.Instance{inst("r", "small", provider.StateRunning)}, records(r)))
	if len(p.Provisioned) != 1 || p.Provisioned[0].After != 42*time.Second {
		t.Fatalf("provisioned %+v", p.Provisioned)
	}
	if got := p.Records["r"]; !got.RunningSince.Equal(t0) || got.Status().RunningSince == nil || !got.Status().RunningSince.Equal(t0) {
		t.Fatalf("running since %v (heartbeat %v), want %v", got.RunningSince, got.Status().RunningSince, t0)
	}
	in := input(config(policy("small", 1, 5)), jobs(), []provider.Instance{inst("r", "small", provider.StateRunning)}, p.Records)
	in.Now = t0.Add(time.Minute)
	p = scheduler.Reconcile(in)
	if len(p.Provisioned) != 0 || !p.Records["r"].RunningSince.Equal(t0) {
		t.Fatalf("provisioned twice: %+v, running since %v", p.Provisioned, p.Records["r"].RunningSince)
	}
	if s := rec("b", "small", protocol.RunnerBooting, t0).Status(); s.RunningSince != nil {
		t.Fatalf("a runner never seen running reports running_since %v", s.RunningSince)
	}
}

// An expired runner is still running (and registered at GitHub) until its reap is done:
// it holds its place against max_runners like any other runner on its way out.
func TestExpiredRunnerHoldsCapacity(t *testing.T) {
	t.Parallel()
	idle := rec("i1", "small", protocol.RunnerIdle, t0)
	idle.Expiry = t0
	inv := []provider.Instance{inst("i1", "small", provider.StateRunning)}
	in := input(config(policy("small", 1, 1)), jobs(), inv, records(idle))
	in.MaxLifetime = time.Hour
	p := scheduler.Reconcile(in)
	equal(t, "reaped", reaped(p), []string{"i1"})
	equal(t, "creates at max 1 while the expired runner runs", createdFor(p), nil)
}

// A runner whose removal was refused (its repository moved: not_owner) is left alone
// until RetryAt, also when its policy is no longer served.
func TestPolicyNoLongerServedHonoursRetryAt(t *testing.T) {
	t.Parallel()
	kept := rec("i1", "old", protocol.RunnerIdle, t0.Add(-time.Hour))
	kept.RetryAt = t0.Add(time.Minute)
	inv := []provider.Instance{inst("i1", "old", provider.StateRunning)}
	in := input(config(policy("small", 0, 5)), jobs(), inv, records(kept))
	p := scheduler.Reconcile(in)
	equal(t, "reaped before RetryAt", reaped(p), nil)
	in.Now = t0.Add(time.Minute)
	p = scheduler.Reconcile(in)
	equal(t, "reaped at RetryAt", reaped(p), []string{"i1"})
}

// A backing-off policy makes no runner before its hold ends, then one probe at a time:
// runners from before the failures keep serving and do not count as probes. Its jobs
// that would get a runner say why they wait.
func TestCrashBackoffHoldsAndProbes(t *testing.T) {
	t.Parallel()
	k := scheduler.Key{Repository: repo, Policy: "small"}
	since := t0.Add(-time.Minute)
	old1, old2 := rec("i1", "small", protocol.RunnerIdle, since.Add(-time.Hour)), rec("i2", "small", protocol.RunnerIdle, since.Add(-time.Hour))
	probe := rec("p1", "small", protocol.RunnerBooting, t0.Add(-10*time.Second))
	probe.Provisioned = false
	inv := []provider.Instance{inst("i1", "small", provider.StateRunning), inst("i2", "small", provider.StateRunning),
		inst("p1", "small", provider.StateCreated)}
	js := jobs(queued(1, "small", t0), queued(2, "small", t0), queued(3, "small", t0), queued(4, "small", t0))
	for _, tc := range []struct {
		name        string
		until       time.Time
		recs        []scheduler.Record
		wantCreates []int64
		wantHeld    []string
	}{
		{name: "held", until: t0.Add(time.Second), recs: []scheduler.Record{old1, old2},
			wantHeld: []string{"3 until 12:00:01", "4 until 12:00:01"}},
		{name: "hold over: one probe", until: t0, recs: []scheduler.Record{old1, old2},
			wantCreates: []int64{3}, wantHeld: []string{"4 until -"}},
		{name: "a probe out: no other", until: t0, recs: []scheduler.Record{old1, old2, probe},
			wantHeld: []string{"4 until -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := input(config(policy("small", 3, 5)), js, inv, records(tc.recs...))
			in.Backoff = map[scheduler.Key]scheduler.Backoff{k: {Failures: 2, Since: since, Until: tc.until, Reason: "x9: exited with code 1 before taking a job"}}
			p := scheduler.Reconcile(in)
			equal(t, "creates", createdFor(p), tc.wantCreates)
			var held []string
			for _, s := range backingOff(p) {
				if !strings.Contains(s, "2 runners in a row of the policy failed before taking a job (the last, x9: exited with code 1") {
					t.Errorf("reason %s", s)
				}
				held = append(held, s[:strings.Index(s, " (")])
			}
			equal(t, "backing off", held, tc.wantHeld)
			if b := p.Backoff[k]; b.Failures != 2 || !b.Until.Equal(tc.until) {
				t.Errorf("back-off after the round %+v", b)
			}
		})
	}
}

// What counts against a policy: a runner that fails before taking a job, once per hold;
// not one that is being removed (its instance stops and goes), nor one that finished. A
// runner that takes a job ends the back-off.
func TestCrashBackoffCounting(t *testing.T) {
	t.Parallel()
	k := scheduler.Key{Repository: repo, Policy: "small"}
	exited1 := inst("f1", "small", provider.StateExited)
	exited1.ExitCode = 1
	exited2 := inst("f2", "small", provider.StateExited)
	exited2.ExitCode = 1
	reaping := rec("r1", "small", protocol.RunnerIdle, t0.Add(-time.Minute))
	reaping.Pending = true
	for _, tc := range []struct {
		name         string
		backoff      scheduler.Backoff
		recs         []scheduler.Record
		inv          []provider.Instance
		js           *protocol.JobsSnapshot
		wantFailures int
		wantUntil    [2]time.Duration // from t0: at least, at most
	}{
		{name: "two fail together: one failure", recs: []scheduler.Record{rec("f1", "small", protocol.RunnerIdle, t0), rec("f2", "small", protocol.RunnerIdle, t0)},
			inv: []provider.Instance{exited1, exited2}, wantFailures: 1, wantUntil: [2]time.Duration{2500 * time.Millisecond, 5 * time.Second}},
		{name: "the next after the hold doubles it", backoff: scheduler.Backoff{Failures: 1, Since: t0.Add(-time.Minute), Until: t0},
			recs: []scheduler.Record{rec("f1", "small", protocol.RunnerIdle, t0)}, inv: []provider.Instance{exited1},
			wantFailures: 2, wantUntil: [2]time.Duration{5 * time.Second, 10 * time.Second}},
		{name: "during the hold: not again", backoff: scheduler.Backoff{Failures: 1, Since: t0.Add(-time.Minute), Until: t0.Add(time.Second)},
			recs: []scheduler.Record{rec("f1", "small", protocol.RunnerIdle, t0)}, inv: []provider.Instance{exited1},
			wantFailures: 1, wantUntil: [2]time.Duration{time.Second, time.Second}},
		{name: "capped", backoff: scheduler.Backoff{Failures: 12, Since: t0.Add(-time.Hour), Until: t0},
			recs: []scheduler.Record{rec("f1", "small", protocol.RunnerIdle, t0)}, inv: []provider.Instance{exited1},
			wantFailures: 13, wantUntil: [2]time.Duration{150 * time.Second, 5 * time.Minute}},
		{name: "being removed: no failure", recs: []scheduler.Record{reaping}},
		{name: "a job taken ends it", backoff: scheduler.Backoff{Failures: 4, Since: t0.Add(-time.Minute), Until: t0.Add(time.Minute)},
			recs: []scheduler.Record{rec("b1", "small", protocol.RunnerIdle, t0)}, inv: []provider.Instance{inst("b1", "small", provider.StateRunning)},
			js: jobs(running(1, "small", "b1"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			js := tc.js
			if js == nil {
				js = jobs()
			}
			in := input(config(policy("small", 0, 5)), js, tc.inv, records(tc.recs...))
			in.Backoff = map[scheduler.Key]scheduler.Backoff{}
			if tc.backoff.Failures > 0 {
				in.Backoff[k] = tc.backoff
			}
			p := scheduler.Reconcile(in)
			b, ok := p.Backoff[k]
			if tc.wantFailures == 0 {
				if ok {
					t.Fatalf("back-off %+v, want none", b)
				}
				return
			}
			if b.Failures != tc.wantFailures || b.Until.Before(t0.Add(tc.wantUntil[0])) || b.Until.After(t0.Add(tc.wantUntil[1])) {
				t.Fatalf("back-off %+v (until +%s), want %d failures, until +%s..+%s", b, b.Until.Sub(t0), tc.wantFailures, tc.wantUntil[0], tc.wantUntil[1])
			}
			// Pure: the same input gives the same hold (the jitter is no coin toss).
			if again := scheduler.Reconcile(in).Backoff[k]; again != b {
				t.Errorf("second plan's back-off %+v != %+v", again, b)
			}
		})
	}
}

// A busy runner whose instance disappears (docker rm -f) is gone: it fails at once,
// frees its slot for the next queued job, is reaped as lost (its registration removed at
// GitHub) and reports the job it was running; it is no evidence against its policy.
func TestBusyRunnerWhoseInstanceVanishedIsGone(t *testing.T) {
	t.Parallel()
	pol := policy("small", 0, 1)
	busy := rec("r", "small", protocol.RunnerBusy, t0.Add(-time.Minute))
	busy.JobID = 3
	js := jobs(running(3, "small", "r"), queued(5, "small", t0.Add(-time.Second)))
	p := scheduler.Reconcile(input(config(pol), js, nil, records(busy)))
	got := p.Records["r"]
	if got.State != protocol.RunnerFailed || !strings.Contains(got.Reason, "while running job 3") {
		t.Errorf("state %s (%s), want failed while running job 3", got.State, got.Reason)
	}
	if st := got.Status(); st.JobID != 3 {
		t.Errorf("heartbeat job of the lost runner = %d, want 3", st.JobID)
	}
	if len(p.Reaps) != 1 || !p.Reaps[0].Lost || p.Reaps[0].Running {
		t.Fatalf("reaps %+v, want one lost reap of r", p.Reaps)
	}
	equal(t, "creates at max 1: the lost runner's slot is free", createdFor(p), []int64{5})
	if b := p.Backoff[scheduler.Key{Repository: repo, Policy: "small"}]; b.Failures != 0 {
		t.Errorf("back-off %+v after a lost busy runner, want none", b)
	}
	// A busy runner whose job the agent saw close in the same round it vanished: finished,
	// and still deregistered (GitHub answers 404 for an ephemeral one that is gone there).
	p = scheduler.Reconcile(input(config(pol), jobs(), nil, records(busy)))
	if got := p.Records["r"]; got.State != protocol.RunnerFinished || len(p.Reaps) != 1 || !p.Reaps[0].Lost {
		t.Errorf("record %s, reaps %+v; want finished and reaped as lost", got, p.Reaps)
	}
}

// An idle runner whose instance vanished (removed before the agent saw the job GitHub had
// just given it, as in the chaos suite) is deregistered at GitHub as a lost one is; one
// whose credentials were never minted has no registration to remove.
func TestIdleRunnerWhoseInstanceVanishedIsDeregistered(t *testing.T) {
	t.Parallel()
	pol := policy("small", 0, 1)
	idle := rec("r", "small", protocol.RunnerIdle, t0.Add(-time.Minute))
	p := scheduler.Reconcile(input(config(pol), jobs(), nil, records(idle)))
	if got := p.Records["r"]; got.State != protocol.RunnerFailed || got.Reason != "the instance disappeared" {
		t.Errorf("record %s (%s), want failed: the instance disappeared", got.State, got.Reason)
	}
	if len(p.Reaps) != 1 || !p.Reaps[0].Lost || p.Reaps[0].Running {
		t.Fatalf("reaps %+v, want one lost reap of r", p.Reaps)
	}
	idle.RunnerID = 0
	p = scheduler.Reconcile(input(config(pol), jobs(), nil, records(idle)))
	if len(p.Reaps) != 1 || p.Reaps[0].Lost {
		t.Fatalf("reaps %+v of a runner never minted, want one plain reap", p.Reaps)
	}
}

// A busy runner whose container was killed (`docker rm -f` listed between its kill and
// its removal: exited 137) while GitHub still gives it its job is lost, not finished:
// the chaos suite's full run left 4 such registrations at GitHub. One that exited 0 with
// its job still open (the job's completion not seen yet) finished as usual.
func TestBusyRunnerKilledMidJobIsLost(t *testing.T) {
	t.Parallel()
	pol := policy("small", 0, 1)
	busy := rec("r", "small", protocol.RunnerBusy, t0.Add(-time.Minute))
	busy.JobID = 3
	killed := inst("r", "small", provider.StateExited)
	killed.ExitCode = 137
	js := jobs(running(3, "small", "r"))
	p := scheduler.Reconcile(input(config(pol), js, []provider.Instance{killed}, records(busy)))
	got := p.Records["r"]
	if got.State != protocol.RunnerFailed || !strings.Contains(got.Reason, "while running job 3") {
		t.Errorf("state %s (%s), want failed while running job 3", got.State, got.Reason)
	}
	if len(p.Reaps) != 1 || !p.Reaps[0].Lost || p.Reaps[0].Running {
		t.Fatalf("reaps %+v, want one lost reap of r (its registration removed at GitHub)", p.Reaps)
	}
	if b := p.Backoff[scheduler.Key{Repository: repo, Policy: "small"}]; b.Failures != 0 {
		t.Errorf("back-off %+v after a runner killed mid-job, want none", b)
	}

	done := killed
	done.ExitCode = 0
	p = scheduler.Reconcile(input(config(pol), js, []provider.Instance{done}, records(busy)))
	if got := p.Records["r"]; got.State != protocol.RunnerFinished || len(p.Reaps) != 1 || p.Reaps[0].Lost {
		t.Errorf("record %s, reaps %+v; want finished and reaped as usual", got.State, p.Reaps)
	}
}
