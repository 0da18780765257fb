package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/garo-dev/garo/agent/client"
	"github.com/garo-dev/garo/shared/protocol"
)

// agentCredentialCalls bounds one agent's concurrent credential requests, as the real
// agent's scheduler bounds the runners it creates at once.
const agentCredentialCalls = 8

// agent is a simulated garo-agent: the real protocol through the agent's client package,
// a runner inventory instead of a provider. For every queued job its jobs poll offers it
// asks for a runner's credentials (as the real agent's scheduler does for a job without
// a runner), reports the runner in its heartbeats until the job completes, then removes it.
type agent struct {
	e    *env
	name string
	cl   *client.Client
	id   string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	mu       sync.Mutex
	cfgVer   string
	repos    []string
	cfgAt    time.Time // when the last config arrived
	seen     map[int64]bool
	runners  map[string]protocol.RunnerStatus
	cfgReady chan struct{} // closed at the first config with repositories
	once     sync.Once
}

func (e *env) newAgent(ctx context.Context, token string, i int) (*agent, error) {
	cl, err := client.New(client.Options{BaseURL: e.hub.ServerURL, HTTPClient: e.http})
	if err != nil {
		return nil, fmt.Errorf("load: agent client: %w", err)
	}
	a := &agent{e: e, name: fmt.Sprintf("load-agent-%d", i), cl: cl, sem: make(chan struct{}, agentCredentialCalls),
		seen: map[int64]bool{}, runners: map[string]protocol.RunnerStatus{}, cfgReady: make(chan struct{})}
	reg, err := cl.Register(ctx, protocol.RegisterRequest{Token: token, Name: a.name, Provider: protocol.ProviderMemory})
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", a.name, err)
	}
	a.id = reg.AgentID
	cl.SetCredential(reg.AgentID, reg.Credential)
	return a, nil
}

// start runs the agent's loops until stop.
func (a *agent) start(ctx context.Context) {
	ctx, a.cancel = context.WithCancel(ctx)
	for _, loop := range []func(context.Context){a.configLoop, a.jobsLoop, a.heartbeatLoop} {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			loop(ctx)
		}()
	}
}

func (a *agent) stop() {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
}

func (a *agent) configLoop(ctx context.Context) {
	for ctx.Err() == nil {
		a.mu.Lock()
		ver := a.cfgVer
		a.mu.Unlock()
		cfg, changed, err := a.cl.Config(ctx, ver, a.e.o.LongPoll)
		now := time.Now()
		if err != nil {
			a.e.rec.fail(ctx, "config poll", err)
			return
		}
		if !changed {
			continue
		}
		a.mu.Lock()
		a.cfgVer, a.repos, a.cfgAt = cfg.Version, cfg.Repositories, now
		a.mu.Unlock()
		a.e.rec.configArrived(a, cfg, now)
		if len(cfg.Repositories) > 0 {
			a.once.Do(func() { close(a.cfgReady) })
		}
	}
}

func (a *agent) jobsLoop(ctx context.Context) {
	ver := ""
	for ctx.Err() == nil {
		snap, changed, err := a.cl.Jobs(ctx, ver, a.e.o.LongPoll)
		now := time.Now()
		if err != nil {
			a.e.rec.fail(ctx, "jobs poll", err)
			return
		}
		if !changed {
			continue
		}
		ver = snap.Version
		for _, j := range snap.Jobs {
			if j.Status != "queued" || j.Policy == "" {
				continue
			}
			a.mu.Lock()
			dup := a.seen[j.ID]
			a.seen[j.ID] = true
			a.mu.Unlock()
			if dup {
				continue
			}
			a.e.rec.offered(j.ID, now)
			if a.e.o.Senders > 0 {
				continue // the intake run: offers only
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.runnerFor(ctx, j)
			}()
		}
	}
}

// runnerFor mints a runner's credentials for job j and hands the runner to GitHub's
// side of the run (env.jobStarted), which sends in_progress and completed for it.
func (a *agent) runnerFor(ctx context.Context, j protocol.Job) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	name := fmt.Sprintf("garo-%s-%d", j.Policy, j.ID)
	created := time.Now()
	a.setRunner(protocol.RunnerStatus{Name: name, Repository: j.Repository, Policy: j.Policy, State: protocol.RunnerCreating, CreatedAt: created})
	creds, err := a.cl.Credentials(ctx, protocol.CredentialsRequest{Repository: j.Repository, Policy: j.Policy, RunnerName: name, JobID: j.ID})
	<-a.sem
	if err != nil {
		a.dropRunner(name)
		a.e.rec.fail(ctx, "credentials", err)
		return
	}
	a.e.rec.minted(j.ID, time.Now())
	a.setRunner(protocol.RunnerStatus{Name: name, Repository: j.Repository, Policy: j.Policy, RunnerID: creds.RunnerID,
		State: protocol.RunnerBusy, JobID: j.ID, CreatedAt: created, RunningSince: &created})
	a.e.jobStarted(ctx, started{agent: a, job: jobRef{ID: j.ID, Repository: j.Repository, Labels: j.Labels}, runner: name, runnerID: creds.RunnerID})
}

// finished removes the runner of a completed job, as the real agent removes an
// ephemeral runner whose process exited.
func (a *agent) finished(ctx context.Context, s started) {
	a.dropRunner(s.runner)
	err := a.cl.RemoveRunner(ctx, protocol.RemoveRunnerRequest{Repository: s.job.Repository, RunnerID: s.runnerID, RunnerName: s.runner})
	switch {
	case err == nil, errors.Is(err, protocol.ErrNotFound):
		a.e.rec.removed()
	default:
		a.e.rec.fail(ctx, "remove runner", err)
	}
}

func (a *agent) setRunner(r protocol.RunnerStatus) {
	a.mu.Lock()
	a.runners[r.Name] = r
	a.mu.Unlock()
}

func (a *agent) dropRunner(name string) {
	a.mu.Lock()
	delete(a.runners, name)
	a.mu.Unlock()
}

// heartbeatLoop sends a heartbeat at once, as garo-agent does at its start, and then
// every interval with garo-agent's jitter (±10 %, agent/app). The first wait is a random
// part of the interval: a fleet's agents started at different times, so their
// heartbeats are spread over the interval. Without it the harness's agents, registered
// within a second, sent theirs in one burst every interval (500 transactions in about a
// second), which a real fleet does not.
func (a *agent) heartbeatLoop(ctx context.Context) {
	iv := a.e.o.Heartbeat
	wait := time.Duration(rand.Int64N(int64(iv)) + 1)
	for {
		a.mu.Lock()
		req := protocol.HeartbeatRequest{State: protocol.AgentActive, Provider: protocol.ProviderMemory,
			Runners: make([]protocol.RunnerStatus, 0, len(a.runners))}
		for _, r := range a.runners {
			req.Runners = append(req.Runners, r)
		}
		a.mu.Unlock()
		t0 := time.Now()
		if _, err := a.cl.Heartbeat(ctx, req); err != nil {
			a.e.rec.fail(ctx, "heartbeat", err)
			return
		}
		a.e.rec.heartbeat(time.Since(t0))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = iv + time.Duration((rand.Float64()*0.2-0.1)*float64(iv))
	}
}
