package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/agent/scheduler"
	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/shared/protocol"
)

// BenchmarkReconcile is one scheduler tick of an agent that serves many repositories:
// per repository one policy with min_idle 2 and max_runners 10, two idle runners, three
// busy ones and two queued jobs. It reports the time of a whole Reconcile; the agent runs
// one per scheduler.interval (2s by default). cpu-ms/op is the process's CPU time per
// tick (the garbage collector's included), comparable between runs on a busy machine.
func BenchmarkReconcile(b *testing.B) {
	for _, repos := range []int{100, 1000, 3000} {
		b.Run(fmt.Sprintf("repos=%d", repos), func(b *testing.B) {
			in := bigInput(repos)
			in.Scratch = &scheduler.Scratch{} // as the scheduler's loop keeps one
			b.ReportAllocs()
			b.ResetTimer()
			cpu := testkit.StartCPU()
			for range b.N {
				p := scheduler.Reconcile(in)
				if len(p.Records) < repos*5 {
					b.Fatalf("records %d", len(p.Records))
				}
			}
			cpu.Report(b)
			b.ReportMetric(float64(len(in.Records)), "runners")
		})
	}
}

func bigInput(repos int) scheduler.Input { return bigInputMinIdle(repos, 2) }

// bigInputMinIdle is bigInput with its policies' min_idle (0: a tick that creates nothing).
func bigInputMinIdle(repos, minIdle int) scheduler.Input {
	now := t0
	cfg := &protocol.Config{Version: "c", AgentID: agentID}
	js := &protocol.JobsSnapshot{Version: "j"}
	recs := map[string]*scheduler.Record{}
	var inv []provider.Instance
	jobID := int64(1)
	for i := range repos {
		repo := fmt.Sprintf("acme/repo-%d", i)
		pol := protocol.Policy{
			ID: fmt.Sprintf("p%d", i), Repository: repo, Name: "ci", Labels: []string{"self-hosted", "ci"},
			MinIdle: minIdle, MaxRunners: 10, Ephemeral: true,
			IdleGrace: protocol.Duration(5 * time.Minute), BootstrapTimeout: protocol.Duration(5 * time.Minute),
		}
		cfg.Repositories = append(cfg.Repositories, repo)
		cfg.Policies = append(cfg.Policies, pol)
		spec := scheduler.SpecOf(pol)
		for r := range 5 {
			name := fmt.Sprintf("garo-ci-%d-%d", i, r)
			rec := scheduler.Record{
				Name: name, Key: scheduler.Key{Repository: repo, Policy: "ci"}, ProviderID: "id-" + name, RunnerID: int64(i*10 + r + 1),
				State: protocol.RunnerIdle, Ephemeral: true, CreatedAt: now.Add(-time.Minute), Since: now.Add(-time.Minute),
				Provisioned: true, Spec: spec, PolicyID: pol.ID,
			}
			if r >= 2 {
				rec.State, rec.TookJob, rec.JobID = protocol.RunnerBusy, true, jobID
				js.Jobs = append(js.Jobs, protocol.Job{ID: jobID, Repository: repo, Policy: "ci", Status: "in_progress", RunnerName: name, ReceivedAt: now.Add(-2 * time.Minute)})
				jobID++
			}
			recs[name] = &rec
			inv = append(inv, provider.Instance{ID: rec.ProviderID, Name: name, State: provider.StateRunning, CreatedAt: rec.CreatedAt, Labels: scheduler.Labels(agentID, rec)})
		}
		for range 2 {
			js.Jobs = append(js.Jobs, protocol.Job{ID: jobID, Repository: repo, Policy: "ci", Status: "queued", ReceivedAt: now.Add(-time.Second)})
			jobID++
		}
	}
	n := 0
	return scheduler.Input{
		Now: now, AgentID: agentID, Config: cfg, Jobs: js, Inventory: inv, Records: recs, Specs: scheduler.Specs(cfg),
		NewName: func(scheduler.Key) string { n++; return fmt.Sprintf("new-%d", n) },
	}
}

// BenchmarkTick is a whole tick of the scheduler of that agent as Run makes it: the
// provider's listing (a fake that answers at once with the inventory), Reconcile, the
// published snapshot, the journal. Its policies have min_idle 0, so that a tick starts
// no action. steady: nothing changed since the last tick; changed: one more idle runner
// took a queued job, so that the journal is written again.
func BenchmarkTick(b *testing.B) {
	for _, repos := range []int{1000, 3000} {
		for _, changed := range []bool{false, true} {
			name := fmt.Sprintf("repos=%d/steady", repos)
			if changed {
				name = fmt.Sprintf("repos=%d/changed", repos)
			}
			b.Run(name, func(b *testing.B) {
				in := bigInputMinIdle(repos, 0)
				j := &memJournal{}
				s := scheduler.New(scheduler.Options{AgentID: agentID, Provider: listing(in.Inventory), Journal: j,
					Now: func() time.Time { return t0 }})
				s.SetConfig(*in.Config)
				js := *in.Jobs
				s.SetJobs(js)
				if err := s.Tick(b.Context()); err != nil { // adopts the instances, writes the journal
					b.Fatal(err)
				}
				idle := []string{}
				for _, r := range s.Records() {
					if r.State == protocol.RunnerIdle {
						idle = append(idle, r.Name)
					}
				}
				if len(idle) < b.N || len(s.Records()) != repos*5 {
					b.Fatalf("%d records, %d idle for %d ticks", len(s.Records()), len(idle), b.N)
				}
				queuedOf := map[string][]int{} // repository → its queued jobs
				for i, job := range js.Jobs {
					if job.Status == "queued" {
						queuedOf[job.Repository] = append(queuedOf[job.Repository], i)
					}
				}
				saved := len(j.b)
				b.ReportAllocs()
				b.ResetTimer()
				cpu := testkit.StartCPU()
				for i := range b.N {
					if changed {
						b.StopTimer()
						// It takes a queued job of its repository.
						repo := repoOf(idle[i])
						at := queuedOf[repo][0]
						queuedOf[repo] = queuedOf[repo][1:]
						js.Jobs = slices.Clone(js.Jobs)
						js.Jobs[at].Status, js.Jobs[at].RunnerName = "in_progress", idle[i]
						s.SetJobs(js)
						b.StartTimer()
					}
					if err := s.Tick(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				cpu.Report(b)
				b.StopTimer()
				if got := s.Records(); changed && got[slices.IndexFunc(got, func(r scheduler.Record) bool { return r.Name == idle[0] })].State != protocol.RunnerBusy {
					b.Fatal("the runner that took a job is not busy")
				}
				if changed && len(j.b) == saved {
					b.Fatal("the journal was not written")
				}
			})
		}
	}
}

// listing is a provider that lists inv and does nothing else.
type listing []provider.Instance

func (l listing) Name() string { return "listing" }
func (l listing) List(context.Context, map[string]string) ([]provider.Instance, error) {
	return slices.Clone(l), nil
}
func (l listing) Create(context.Context, provider.RunnerRequest) (provider.Instance, error) {
	return provider.Instance{}, errors.New("listing: no creations")
}
func (l listing) Delete(context.Context, string) error { return errors.New("listing: no removals") }
func (l listing) State(context.Context, string) (provider.Instance, error) {
	return provider.Instance{}, errors.New("listing: no state")
}

// repoOf is the repository of bigInput's runner name garo-ci-<i>-<r>.
func repoOf(name string) string {
	i := strings.Split(name, "-")[2]
	return "acme/repo-" + i
}

// TestReconcileChanged: a tick that finds every runner as it was changes no record
// (Plan.Changed false: the scheduler then does not write its journal again); one where a
// runner went busy does.
func TestReconcileChanged(t *testing.T) {
	in := bigInput(3)
	p := scheduler.Reconcile(in)
	if !p.Changed || len(p.Creates) == 0 {
		t.Fatalf("first tick: changed %v, creates %d; want its min_idle creations", p.Changed, len(p.Creates))
	}
	// The same input with the plan's records, their creations done and running: steady.
	in.Records = p.Records
	for _, c := range p.Creates {
		r := *in.Records[c.Record.Name]
		r.Pending, r.ProviderID, r.State, r.Provisioned = false, "id-"+r.Name, protocol.RunnerIdle, true
		r.RunningSince = in.Now
		in.Records[r.Name] = &r
		in.Inventory = append(in.Inventory, provider.Instance{ID: r.ProviderID, Name: r.Name, State: provider.StateRunning, CreatedAt: r.CreatedAt, Labels: scheduler.Labels(agentID, r)})
	}
	if p := scheduler.Reconcile(in); p.Changed || len(p.Creates) != 0 || len(p.Reaps) != 0 {
		t.Fatalf("steady tick: changed %v, %d creates, %d reaps; want nothing", p.Changed, len(p.Creates), len(p.Reaps))
	}
	// One idle runner took a queued job.
	j := &in.Jobs.Jobs[len(in.Jobs.Jobs)-1]
	var idle string
	for name, r := range in.Records {
		if r.State == protocol.RunnerIdle && r.Repository == j.Repository {
			idle = name
			break
		}
	}
	jobs := *in.Jobs
	jobs.Jobs = append([]protocol.Job(nil), in.Jobs.Jobs...)
	jobs.Jobs[len(jobs.Jobs)-1].Status, jobs.Jobs[len(jobs.Jobs)-1].RunnerName = "in_progress", idle
	in.Jobs = &jobs
	if p := scheduler.Reconcile(in); !p.Changed || p.Records[idle].State != protocol.RunnerBusy {
		t.Fatalf("a runner took a job: changed %v, its record %+v", p.Changed, p.Records[idle])
	}
}
