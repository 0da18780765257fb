package scheduler

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/spec"
)

// randomInput is a small agent's tick drawn from seed: a few repositories and policies,
// records in every state (pending, refused, expired, outdated, lost), instances of them
// and orphans (another agent's, unlabelled, duplicated), queued and running jobs, holds,
// back-offs, sometimes a capacity, draining, no config or no jobs yet. It is made to
// reach the branches of Reconcile, not to be realistic.
func randomInput(seed uint64) Input {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	ago := func(upTo time.Duration) time.Time { return now.Add(-time.Duration(rng.Int64N(int64(upTo)))) }
	pick := func(n int) int { return rng.IntN(n) }
	const agent = "agent-1"
	repos := []string{"acme/a", "acme/b", "acme/c"}[:1+pick(3)]
	cfg := &protocol.Config{Version: "c", AgentID: agent}
	for _, r := range repos {
		if pick(5) > 0 {
			cfg.Repositories = append(cfg.Repositories, r)
		}
	}
	for _, r := range repos {
		for _, name := range []string{"x", "y"}[:1+pick(2)] {
			pol := protocol.Policy{
				ID: "p-" + r + "-" + name, Repository: r, Name: name, Labels: []string{"self-hosted", name},
				MinIdle: pick(4), MaxRunners: pick(6), Ephemeral: pick(4) > 0,
				IdleGrace:        protocol.Duration([]time.Duration{0, time.Minute, 5 * time.Minute}[pick(3)]),
				BootstrapTimeout: protocol.Duration([]time.Duration{0, 3 * time.Minute}[pick(2)]),
				Priority:         pick(3), Runner: spec.RunnerSpec{Image: []string{"img:1", "img:2"}[pick(2)]},
			}
			if pick(3) == 0 {
				pol.Runner.CPU, pol.Runner.Memory = []string{"", "500m", "2"}[pick(3)], []string{"", "1Gi"}[pick(2)]
			}
			switch pick(6) {
			case 0:
				pol.Schedule = []protocol.ScheduleWindow{{Start: "09:00", End: "17:00", MinIdle: pick(4)}}
			case 1:
				pol.Schedule = []protocol.ScheduleWindow{{Start: "25:00", End: "17:00", MinIdle: 1}} // unreadable: a warning
			}
			cfg.Policies = append(cfg.Policies, pol)
		}
	}
	keys := make([]Key, 0, len(cfg.Policies)+1)
	for _, pol := range cfg.Policies {
		keys = append(keys, Key{pol.Repository, pol.Name})
	}
	keys = append(keys, Key{"acme/gone", "x"}) // a policy no longer served
	specs := Specs(cfg)
	polOf := func(k Key) *protocol.Policy {
		for i := range cfg.Policies {
			if cfg.Policies[i].Repository == k.Repository && cfg.Policies[i].Name == k.Policy {
				return &cfg.Policies[i]
			}
		}
		return nil
	}

	states := []protocol.RunnerState{protocol.RunnerCreating, protocol.RunnerBooting, protocol.RunnerIdle,
		protocol.RunnerBusy, protocol.RunnerFailed, protocol.RunnerFinished}
	var recs []Record
	var inv []provider.Instance
	js := &protocol.JobsSnapshot{Version: "j"}
	jobID := int64(1)
	forJob := map[int64]bool{}
	for i := range pick(14) {
		k := keys[pick(len(keys))]
		r := Record{
			Name: fmt.Sprintf("r%d", i), Key: k, ProviderID: fmt.Sprintf("id-r%d", i), RunnerID: int64(pick(2) * (100 + i)),
			State: states[pick(len(states))], Ephemeral: pick(4) > 0, CreatedAt: ago(10 * time.Minute),
			Pending: pick(5) == 0, Provisioned: pick(2) == 0, Lost: pick(8) == 0, Attempts: pick(3),
		}
		r.Since = r.CreatedAt.Add(time.Duration(rng.Int64N(int64(now.Sub(r.CreatedAt) + 1))))
		if pick(4) == 0 {
			r.ProviderID = ""
		}
		if r.State == protocol.RunnerBusy || pick(4) == 0 {
			r.TookJob, r.JobID = true, jobID+100
		}
		if f := jobID + int64(pick(4)); pick(3) == 0 && !forJob[f] {
			r.ForJob, forJob[f] = f, true // (one runner per job: which of two would be reported is not defined)
		}
		if pick(4) == 0 {
			r.Expiry = now.Add(time.Duration(pick(3)-1) * time.Minute)
		}
		if pick(4) == 0 {
			r.RetryAt = now.Add(time.Duration(pick(3)-1) * time.Minute)
		}
		if pick(3) == 0 {
			r.RunningSince = r.CreatedAt
		}
		if pol := polOf(k); pol != nil {
			r.PolicyID = pol.ID
			r.Spec = []string{"", specs[pol.ID], "old"}[pick(3)]
		}
		recs = append(recs, r)
		if pick(5) > 0 { // its instance
			in := provider.Instance{ID: "id-" + r.Name, Name: r.Name, CreatedAt: r.CreatedAt,
				State:  []provider.State{provider.StateCreated, provider.StateRunning, provider.StateRunning, provider.StateExited, provider.StateGone}[pick(5)],
				Labels: Labels(agent, r)}
			if in.State == provider.StateExited {
				in.ExitCode = pick(2)
			}
			if pick(8) == 0 {
				in.ID = "other-" + r.Name // a record of another instance
			}
			inv = append(inv, in)
		}
		if pick(3) == 0 { // a job it runs
			js.Jobs = append(js.Jobs, protocol.Job{ID: jobID, Repository: k.Repository, Policy: k.Policy, Status: "in_progress",
				RunnerName: r.Name, ReceivedAt: ago(time.Hour)})
			jobID++
		}
	}
	for i := range pick(5) { // instances without a record
		k := keys[pick(len(keys))]
		r := Record{Name: fmt.Sprintf("o%d", i), Key: k, CreatedAt: ago(time.Hour), RunnerID: int64(pick(2) * 7)}
		if pol := polOf(k); pol != nil && pick(2) == 0 {
			r.PolicyID = pol.ID
		}
		if pick(4) == 0 {
			r.PolicyID = "another-installation"
		}
		owner := []string{agent, agent, "agent-2"}[pick(3)]
		in := provider.Instance{ID: fmt.Sprintf("id-o%d", i), Name: r.Name, CreatedAt: r.CreatedAt, Labels: Labels(owner, r),
			State: []provider.State{provider.StateCreated, provider.StateRunning, provider.StateExited}[pick(3)]}
		switch pick(6) {
		case 0:
			in.Labels = map[string]string{provider.LabelManagedBy: provider.ManagedByGaro, provider.LabelAgentID: agent}
		case 1:
			in.Labels[provider.LabelRunner] = fmt.Sprintf("r%d", pick(14)) // a second instance of a name
		}
		inv = append(inv, in)
		if pick(2) == 0 {
			js.Jobs = append(js.Jobs, protocol.Job{ID: jobID, Repository: k.Repository, Policy: k.Policy, Status: "in_progress",
				RunnerName: in.Labels[provider.LabelRunner], ReceivedAt: ago(time.Hour)})
			jobID++
		}
	}
	for _, k := range keys {
		for range pick(5) {
			j := protocol.Job{ID: jobID, Repository: k.Repository, Policy: k.Policy, Status: "queued", ReceivedAt: ago(10 * time.Minute)}
			if pick(8) == 0 {
				j.Policy = "" // unmatched
			}
			if pick(8) == 0 {
				j.Status = "waiting"
			}
			js.Jobs = append(js.Jobs, j)
			jobID++
		}
	}
	rng.Shuffle(len(js.Jobs), func(i, j int) { js.Jobs[i], js.Jobs[j] = js.Jobs[j], js.Jobs[i] })
	rng.Shuffle(len(inv), func(i, j int) { inv[i], inv[j] = inv[j], inv[i] })

	in := Input{Now: now, AgentID: agent, Config: cfg, Jobs: js, Inventory: inv, Records: recordMap(recs),
		Blocked: map[Key]Hold{}, Backoff: map[Key]Backoff{}}
	for _, k := range keys {
		if pick(6) == 0 {
			in.Blocked[k] = Hold{Until: now.Add(time.Duration(pick(3)-1) * time.Minute), Reason: "blocked"}
		}
		if pick(5) == 0 {
			in.Backoff[k] = Backoff{Failures: 1 + pick(3), Since: ago(time.Hour), Until: now.Add(time.Duration(pick(3)-1) * time.Minute), Reason: "crashed"}
		}
	}
	switch pick(10) {
	case 0:
		in.Config = nil
	case 1:
		in.Jobs = nil
	}
	in.Draining = pick(8) == 0
	if pick(3) == 0 {
		in.Capacity = Capacity{MaxRunners: pick(8), CPUMilli: int64(pick(2) * 3000), MemoryBytes: int64(pick(2)) << 31}
	}
	if pick(3) == 0 {
		in.MaxLifetime = time.Hour
	}
	if pick(2) == 0 {
		in.Specs = specs
	}
	if pick(4) == 0 && in.Config != nil {
		in.Config.Scheduling.MaxWait = protocol.Duration(2 * time.Minute)
	}
	n := 0
	in.NewName = func(k Key) string { n++; return fmt.Sprintf("new-%s-%d", k.Policy, n) }
	return in
}

// canonicalPlan is a plan with its maps as sorted lists (and what Reconcile fills in
// map order sorted), for comparing two plans.
func canonicalPlan(p Plan) string {
	type kv struct {
		K string
		V any
	}
	sorted := func(m []kv) []kv {
		slices.SortFunc(m, func(a, b kv) int { return cmp.Compare(a.K, b.K) })
		return m
	}
	var recs, queues, backoffs []kv
	for name, r := range p.Records {
		recs = append(recs, kv{name, recordValue(r)})
	}
	for k, n := range p.Queues {
		queues = append(queues, kv{k.String(), n})
	}
	for k, b := range p.Backoff {
		backoffs = append(backoffs, kv{k.String(), b})
	}
	prov := slices.Clone(p.Provisioned)
	slices.SortFunc(prov, func(a, b Provisioned) int {
		return cmp.Or(cmp.Compare(a.Key.String(), b.Key.String()), cmp.Compare(a.After, b.After))
	})
	var warns []string
	for _, w := range p.Warnings {
		warns = append(warns, w.Error())
	}
	b, err := json.MarshalIndent(map[string]any{
		"records": sorted(recs), "creates": p.Creates, "reaps": p.Reaps, "jobs": p.Jobs, "queues": sorted(queues),
		"provisioned": prov, "warnings": warns, "backoff": sorted(backoffs), "changed": p.Changed,
	}, "", " ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

func recordMap(rs []Record) map[string]*Record {
	m := make(map[string]*Record, len(rs))
	for i := range rs {
		m[rs[i].Name] = &rs[i]
	}
	return m
}

func recordValue(r *Record) Record { return *r }
