package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
)

// samplePeriod is how often the simulator, the engine and the processes are sampled.
const samplePeriod = 250 * time.Millisecond

// jobSeen is what the samples saw of one job.
type jobSeen struct {
	queued     time.Time
	started    time.Time // first sample that showed it taken
	done       bool
	conclusion string
	runners    map[string]bool
	outage     bool // queued while both replicas were down
	// The simulator's job at the last sample, and when a sample first showed it so.
	status, runner string
	changed        time.Time
}

// faultRun is one fault as it happened.
type faultRun struct {
	Fault
	start, end time.Time
	note       string
	// LoseCompleted: the completions lost, and from the window's end until the job log
	// agreed with GitHub about each (-1: not within 5 minutes), under tracker.mu.
	lost     int
	repaired time.Duration
}

type tracker struct {
	mu         sync.Mutex
	jobs       map[int64]*jobSeen
	peak       int // containers of the policy not exited: created, running, ...
	peakAt     time.Time
	peakStates string // the containers' states in the peak's sample

	outageStart time.Time   // both replicas killed
	outageBack  time.Time   // the first replica answered again: the return
	watched     []*logWatch // the outage's jobs in the job log, from the return
	agentCall   time.Time   // the agent's first call a replica answered after outageStart
	// inFlight are the jobs a runner had at the outage's start: their completions fall
	// into the outage.
	inFlight  []int64
	peakAll   int // ... and with the exited ones not yet removed
	samples   int
	sampleErr int
	names     map[string]string // container name → state, from the last sample
	busy      map[string]bool   // runner names with a job, from the last sample
}

// burst queues the jobs, runs the schedule while sampling, waits for every job, then
// lets the system settle and counts what is left.
func (e *env) burst(ctx context.Context) (*Report, error) {
	tr := &tracker{jobs: map[int64]*jobSeen{}, names: map[string]string{}, busy: map[string]bool{}}
	e.tr.Store(tr)
	t0 := time.Now()
	for range e.o.Jobs {
		if err := e.queueJob(ctx, tr, false); err != nil {
			return nil, err
		}
	}
	e.logf("%d jobs queued on %s at max_runners %d; %d faults scheduled", e.o.Jobs, e.repo, e.o.MaxRunners, len(e.o.Schedule))

	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(samplePeriod)
		defer tick.Stop()
		for {
			e.sample(sctx, tr)
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var faults []*faultRun
	for _, f := range e.o.Schedule {
		if wait := time.Until(t0.Add(f.At)); wait > 0 {
			select {
			case <-ctx.Done():
				stopSampling()
				<-sampled
				e.watching.Wait()
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		}
		fr := &faultRun{Fault: f, start: time.Now()}
		if err := e.inject(sctx, tr, fr); err != nil {
			fr.note = err.Error()
		}
		fr.end = time.Now()
		e.logf("%6.1fs %s (%s)%s", fr.start.Sub(t0).Seconds(), f.Kind, fr.end.Sub(fr.start).Round(time.Millisecond), noteOf(fr.note))
		faults = append(faults, fr)
	}

	deadline := time.Now().Add(e.o.Deadline)
	for !tr.allDone() && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, samplePeriod) // waiting on the sampler
	}
	jobsDone := time.Now()
	settleBy := time.Now().Add(e.o.Settle)
	var containers, registrations int
	for {
		containers, registrations = e.leftovers(ctx)
		if (containers == 0 && registrations == 0) || !time.Now().Before(settleBy) || ctx.Err() != nil {
			break
		}
		sleep(ctx, samplePeriod) // waiting for the agent to clean up
	}
	settled := time.Now()
	wrong, firstWrong := e.logDisagreements(ctx, tr)
	stopSampling()
	<-sampled
	e.watching.Wait()
	rep := e.report(tr, faults, t0, jobsDone, settled)
	rep.OrphanContainers, rep.OrphanRegistrations = containers, registrations
	rep.LogWrong, rep.LogWrongFirst = wrong, firstWrong
	return rep, nil
}

func noteOf(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func (e *env) queueJob(ctx context.Context, tr *tracker, outage bool) error {
	b, _ := json.Marshal(map[string]any{"repository": e.repo, "labels": []string{"self-hosted", "chaos"}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.simURL+"/_sim/jobs", bytes.NewReader(b))
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("chaos: queue a job: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Job struct {
			ID int64 `json:"id"`
		} `json:"job"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Job.ID == 0 {
		return fmt.Errorf("chaos: queue a job: %d: %v", resp.StatusCode, err)
	}
	tr.mu.Lock()
	tr.jobs[out.Job.ID] = &jobSeen{queued: time.Now(), runners: map[string]bool{}, outage: outage}
	tr.mu.Unlock()
	return nil
}

// sample reads the simulator's jobs, the engine's containers and the processes' RSS.
func (e *env) sample(ctx context.Context, tr *tracker) {
	now := time.Now()
	for _, p := range e.procs() {
		p.sampleRSS()
	}
	var jobs struct {
		Jobs []struct {
			ID         int64   `json:"id"`
			Status     string  `json:"status"`
			Conclusion *string `json:"conclusion"`
			RunnerName *string `json:"runner_name"`
		} `json:"jobs"`
	}
	errs := 0
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.simURL+"/_sim/jobs?repository="+e.repo, nil)
	if resp, err := e.http.Do(req); err == nil {
		if json.NewDecoder(resp.Body).Decode(&jobs) != nil {
			errs++
		}
		_ = resp.Body.Close()
	} else {
		errs++
	}
	list, err := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: e.selector()})
	if err != nil {
		errs++
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.samples++
	tr.sampleErr += errs
	busy := map[string]bool{}
	for _, j := range jobs.Jobs {
		js, ok := tr.jobs[j.ID]
		if !ok {
			continue
		}
		runner, concl := "", ""
		if j.RunnerName != nil {
			runner = *j.RunnerName
		}
		if j.Conclusion != nil {
			concl = *j.Conclusion
		}
		if js.status != j.Status || js.runner != runner || js.conclusion != concl {
			js.status, js.runner, js.conclusion, js.changed = j.Status, runner, concl, now
		}
		if j.RunnerName != nil && *j.RunnerName != "" {
			js.runners[*j.RunnerName] = true
			if js.started.IsZero() {
				js.started = now
			}
			if j.Status == "in_progress" {
				busy[*j.RunnerName] = true
			}
		}
		if j.Status == "completed" {
			js.done = true
			if j.Conclusion != nil {
				js.conclusion = *j.Conclusion
			}
		}
	}
	tr.busy = busy
	if err == nil {
		live, states := 0, map[string]int{}
		for _, c := range list {
			states[c.State]++
			if c.State != "exited" && c.State != "dead" && c.State != "removing" {
				live++ // created (creating), running, restarting, paused
			}
		}
		if live > tr.peak {
			tr.peak, tr.peakAt, tr.peakStates = live, now, fmt.Sprint(states)
		}
		tr.peakAll = max(tr.peakAll, len(list))
		tr.names = map[string]string{}
		for _, c := range list {
			tr.names[c.Labels["garo.dev/runner"]+"\x00"+c.ID] = c.State
		}
	}
}

func (tr *tracker) allDone() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, j := range tr.jobs {
		if !j.done {
			return false
		}
	}
	return true
}

func (e *env) procs() []*proc {
	return append([]*proc{e.sim, e.agent}, e.servers...)
}

// leftovers counts the policy's containers and the repository's runner registrations.
func (e *env) leftovers(ctx context.Context) (containers, registrations int) {
	list, err := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: e.selector()})
	if err != nil {
		containers = -1
	} else {
		containers = len(list)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.simURL+"/api/v3/repos/"+e.repo+"/actions/runners?per_page=100", nil)
	req.Header.Set("Authorization", "Bearer "+simPAT)
	resp, err := e.http.Do(req)
	if err != nil {
		return containers, -1
	}
	defer resp.Body.Close()
	var out struct {
		TotalCount int `json:"total_count"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return containers, -1
	}
	return containers, out.TotalCount
}
