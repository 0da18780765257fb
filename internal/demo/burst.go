package demo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/garo-dev/garo/agent/provider"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

// Sampling periods of the progress view: the engine and the simulator, and the portal
// API (for the jobs waiting for capacity).
const (
	samplePeriod = 100 * time.Millisecond
	portalPeriod = 500 * time.Millisecond
)

// jobTrack is what the demo saw of one job.
type jobTrack struct {
	id       int64
	status   string // the simulator's: queued, in_progress, completed
	runner   string
	waited   bool // the portal showed it waiting for capacity at some point
	waiting  bool // ... in its last sample
	received time.Time
}

// runnerTrack is what the demo saw of one runner container.
type runnerTrack struct {
	name    string
	running time.Time // State.StartedAt
	gone    bool
}

// offlineLimit is how long runner containers may run without any job starting before
// the demo gives up: their runners cannot reach the simulator.
const offlineLimit = 60 * time.Second

// tracker follows one burst through the simulator, the engine and the portal API.
type tracker struct {
	r       *run
	start   time.Time
	firstUp time.Time // the first runner container seen running
	started bool      // a job went in progress
	jobs    map[int64]*jobTrack
	order   []int64 // queue order
	runners map[string]*runnerTrack
	sum     Summary
}

// burst queues the jobs, follows them until every job is completed and every container
// is gone, and returns the figures.
func (r *run) burst(ctx context.Context) (*Summary, error) {
	tr := &tracker{r: r, start: time.Now(), jobs: map[int64]*jobTrack{}, runners: map[string]*runnerTrack{}}
	tr.sum.AgentID, tr.sum.Jobs, tr.sum.MaxRunners = r.agentID, r.o.Jobs, r.o.MaxRunners
	for range r.o.Jobs {
		j, err := r.stack.Sim.QueueJob(ctx, repo, []string{"self-hosted", policy})
		if err != nil {
			return nil, fmt.Errorf("demo: queue a job: %w", err)
		}
		tr.jobs[j.ID] = &jobTrack{id: j.ID, status: j.Status}
		tr.order = append(tr.order, j.ID)
	}
	r.view.event(tr.elapsed(), "%d jobs queued on %s with labels [self-hosted %s]: workflow_job webhooks sent", r.o.Jobs, repo, policy)

	tick := time.NewTicker(samplePeriod)
	defer tick.Stop()
	var lastPortal time.Time
	for {
		if time.Since(lastPortal) >= portalPeriod {
			lastPortal = time.Now()
			if err := tr.samplePortal(ctx); err != nil {
				r.log.Warn("demo: portal sample", "err", err)
			}
		}
		live, err := tr.sampleEngine(ctx)
		if err != nil {
			r.log.Warn("demo: engine sample", "err", err)
		}
		done := tr.sampleSim()
		r.view.status(tr.statusLine(live))
		if done == len(tr.jobs) && live == 0 && err == nil && tr.noContainers(ctx) {
			break
		}
		if unreachable(tr.firstUp, tr.started, time.Now()) {
			r.view.clear()
			return &tr.sum, fmt.Errorf("demo: runner containers have run for %s and no job started: their runners cannot reach the GitHub simulator on 127.0.0.1 (the engine's host network is not this machine's, as with Docker Desktop without host networking; see docs/demo.md)", offlineLimit)
		}
		select {
		case <-ctx.Done():
			r.view.clear()
			return &tr.sum, fmt.Errorf("demo: stopped with %d of %d jobs done: %w", done, len(tr.jobs), ctx.Err())
		case <-tick.C:
		}
	}
	r.view.clear()
	tr.sum.Duration = time.Since(tr.start)
	if err := tr.finish(ctx); err != nil {
		return &tr.sum, err
	}
	return &tr.sum, nil
}

func (tr *tracker) elapsed() time.Duration { return time.Since(tr.start) }

// sampleSim reports job changes and counts runners online; it returns the jobs done.
func (tr *tracker) sampleSim() (done int) {
	online := 0
	for _, rn := range tr.r.stack.Sim.Runners(repo) {
		if rn.Status == "online" {
			online++
		}
	}
	tr.sum.PeakOnline = max(tr.sum.PeakOnline, online)
	for _, id := range tr.order {
		jt := tr.jobs[id]
		j, ok := tr.r.stack.Sim.Job(id)
		if !ok {
			continue
		}
		if j.Status != jt.status {
			switch j.Status {
			case "in_progress":
				tr.started = true
				tr.r.view.event(tr.elapsed(), "> job %d started on runner %s", id, j.RunnerName)
			case "completed":
				tr.started = true
				tr.r.view.event(tr.elapsed(), "%s job %d %s on runner %s", mark(j.Conclusion), id, j.Conclusion, j.RunnerName)
			}
			jt.status, jt.runner = j.Status, j.RunnerName
		}
		if jt.status == "completed" {
			done++
		}
	}
	return done
}

// unreachable reports whether runner containers have run for offlineLimit (the first
// since firstUp) without a single job starting.
func unreachable(firstUp time.Time, started bool, now time.Time) bool {
	return !started && !firstUp.IsZero() && now.Sub(firstUp) >= offlineLimit
}

func mark(conclusion string) string {
	if conclusion == "success" {
		return "="
	}
	return "!"
}

// sampleEngine reports containers that appeared, started and went; it returns how many
// are created or running (runners in the sense of max_runners).
func (tr *tracker) sampleEngine(ctx context.Context) (int, error) {
	list, err := tr.r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: tr.r.selector()})
	if err != nil {
		return 0, err
	}
	live, present := 0, map[string]bool{}
	for _, c := range list {
		name := c.Labels[provider.LabelRunner]
		present[name] = true
		rt := tr.runners[name]
		if rt == nil {
			rt = &runnerTrack{name: name}
			tr.runners[name] = rt
			tr.sum.Containers++
			tr.r.view.event(tr.elapsed(), "+ runner %s: container %.12s created", name, c.ID)
		}
		if c.State == "created" || c.State == "running" {
			live++
		}
		if rt.running.IsZero() && c.State != "created" {
			if info, err := tr.r.cli.ContainerInspect(ctx, c.ID); err == nil && info.State != nil {
				if at, err := time.Parse(time.RFC3339Nano, info.State.StartedAt); err == nil && at.Year() > 1 {
					rt.running = at
					if tr.firstUp.IsZero() {
						tr.firstUp = time.Now()
					}
					tr.r.view.event(tr.elapsed(), "  runner %s: container running", name)
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(tr.runners)) {
		if rt := tr.runners[name]; !rt.gone && !present[name] {
			rt.gone = true
			tr.r.view.event(tr.elapsed(), "- runner %s: container removed", name)
		}
	}
	tr.sum.PeakRunners = max(tr.sum.PeakRunners, live)
	return live, nil
}

// noContainers confirms, with a fresh listing, that none of the agent's containers is
// left in any state.
func (tr *tracker) noContainers(ctx context.Context) bool {
	list, err := tr.r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: tr.r.selector()})
	return err == nil && len(list) == 0
}

// samplePortal reads the server's view of the queue: jobs waiting for capacity.
func (tr *tracker) samplePortal(ctx context.Context) error {
	waiting := map[int64]bool{}
	for j, err := range tr.r.stack.Portal.AllRepoJobs(ctx, repo, client.JobQuery{State: portalapi.JobQueued, Limit: 500}) {
		if err != nil {
			return err
		}
		if j.AgentState == portalapi.JobWaitingForCapacity {
			waiting[j.ID] = true
		}
	}
	n := 0
	for id, jt := range tr.jobs {
		jt.waiting = waiting[id]
		if jt.waiting {
			jt.waited = true
			n++
		}
	}
	tr.sum.MostWaiting = max(tr.sum.MostWaiting, n)
	return nil
}

// statusLine is the one-line state of the burst.
func (tr *tracker) statusLine(live int) string {
	queued, waiting, running, done := 0, 0, 0, 0
	for _, jt := range tr.jobs {
		switch jt.status {
		case "queued":
			queued++
			if jt.waiting { // the portal's sample may be older than the simulator's
				waiting++
			}
		case "in_progress":
			running++
		case "completed":
			done++
		}
	}
	return fmt.Sprintf("%7.2fs  jobs: %d queued (%d waiting for capacity), %d running, %d done of %d   runners: %s %d/%d (peak %d)",
		tr.elapsed().Seconds(), queued, waiting, running, done, len(tr.jobs), bar(live, tr.sum.MaxRunners), live, tr.sum.MaxRunners, tr.sum.PeakRunners)
}

// bar draws n of max as filled and empty cells.
func bar(n, max int) string {
	b := make([]rune, 0, max)
	for i := range max {
		if i < n {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return "[" + string(b) + "]"
}

// finish collects the figures of the summary: outcomes from the simulator, the webhook's
// arrival from the server's job log, the container start from the engine.
func (tr *tracker) finish(ctx context.Context) error {
	received := map[int64]time.Time{}
	for j, err := range tr.r.stack.Portal.AllRepoJobs(ctx, repo, client.JobQuery{Limit: 500}) {
		if err != nil {
			return fmt.Errorf("demo: read the job log: %w", err)
		}
		received[j.ID] = j.ReceivedAt
	}
	for i, id := range tr.order {
		j, _ := tr.r.stack.Sim.Job(id)
		if j.Conclusion == "success" {
			tr.sum.Succeeded++
		} else {
			tr.sum.Failed++
		}
		at, ok := received[id]
		if !ok {
			return fmt.Errorf("demo: job %d is not in the server's job log", id)
		}
		if tr.jobs[id].waited {
			tr.sum.Waited++
		}
		firstWave := i < tr.sum.MaxRunners
		if !j.RunnerOnlineAt.IsZero() {
			d := j.RunnerOnlineAt.Sub(at)
			tr.sum.WebhookToOnline = append(tr.sum.WebhookToOnline, d)
			if firstWave {
				tr.sum.FirstWaveToOnline = append(tr.sum.FirstWaveToOnline, d)
			}
		}
		if rt := tr.runners[j.RunnerName]; rt != nil && !rt.running.IsZero() {
			d := rt.running.Sub(at)
			tr.sum.WebhookToRunning = append(tr.sum.WebhookToRunning, d)
			if firstWave {
				tr.sum.FirstWaveToRunning = append(tr.sum.FirstWaveToRunning, d)
			}
		}
	}
	if len(tr.sum.WebhookToOnline) != len(tr.order) {
		return errors.New("demo: the simulator did not see every job's runner come online")
	}
	return nil
}
