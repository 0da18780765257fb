package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// Bounds of the run's own concurrency and waits.
const (
	registrars    = 16               // concurrent registrations
	senders       = 256              // concurrent deliveries in flight
	readyTimeout  = 2 * time.Minute  // for every repository to be owned by an agent
	changeTimeout = 30 * time.Second // for a policy change to reach its agent's held config poll
	sendTick      = 10 * time.Millisecond
)

// run registers the agents, waits until they own every repository, sends the jobs and
// collects the result.
func (e *env) run(ctx context.Context) (*Result, error) {
	t0 := time.Now()
	if err := e.startAgents(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.o.Progress, "load: %d agents registered in %s\n", e.o.Agents, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := e.waitOwned(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.o.Progress, "load: every repository owned after %s; sending for %s\n", time.Since(t0).Round(time.Millisecond), e.o.Duration)
	res := &Result{Options: e.o, Unowned: e.unowned, HubPID: e.hub.PID}
	smp := startSampler(ctx, e.hub.PID, time.Second)
	cpu0, self0, db0 := smp.cpu(), selfCPU(), treeCPU(e.o.DBPID)
	calls0, callsErr := e.githubCalls(ctx)
	start := time.Now()
	sendCtx, stopSending := context.WithTimeout(ctx, e.o.Duration)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.send(sendCtx, ctx)
	}()
	if e.o.PolicyChanges > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.changePolicies(ctx, sendCtx)
		}()
	}
	<-sendCtx.Done()
	stopSending()
	res.Elapsed = time.Since(start)
	res.CPU = (smp.cpu() - cpu0).Seconds() / res.Elapsed.Seconds()
	res.LoadCPU = (selfCPU() - self0).Seconds() / res.Elapsed.Seconds()
	res.DBCPU = (treeCPU(e.o.DBPID) - db0).Seconds() / res.Elapsed.Seconds()
	wg.Wait()
	e.drain(ctx)
	if calls1, err := e.githubCalls(ctx); err == nil && callsErr == nil {
		res.GitHubCalls = int(calls1 - calls0)
	} else {
		e.rec.fail(ctx, "metrics", errors.Join(callsErr, err))
	}
	smp.stop()
	res.RSSMax, res.RSSEnd, res.RSSPeak = smp.rss()
	e.collect(res)
	return res, nil
}

// startAgents registers o.Agents agents with one registration token and starts them.
func (e *env) startAgents(ctx context.Context) error {
	uses := min(e.o.Agents, 1000)
	var tokens []string
	for left := e.o.Agents; left > 0; left -= uses {
		n := min(left, uses)
		tok, err := e.hub.portal.CreateRegistrationToken(ctx, portalapi.DefaultAgentGroup, portalapi.RegistrationTokenRequest{Uses: &n})
		if err != nil {
			return fmt.Errorf("load: registration token: %w", err)
		}
		for range n {
			tokens = append(tokens, tok.Token)
		}
	}
	e.agents = make([]*agent, e.o.Agents)
	errs := make([]error, e.o.Agents)
	sem := make(chan struct{}, registrars)
	var wg sync.WaitGroup
	for i := range e.o.Agents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e.agents[i], errs[i] = e.newAgent(ctx, tokens[i], i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.agents = nil
		return err
	}
	for _, a := range e.agents {
		a.start(ctx)
	}
	return nil
}

// waitOwned waits until the agents' configurations cover every repository.
func (e *env) waitOwned(ctx context.Context) error {
	wait, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		owned := map[string]bool{}
		for _, a := range e.agents {
			a.mu.Lock()
			for _, r := range a.repos {
				owned[r] = true
			}
			a.mu.Unlock()
		}
		if len(owned) == len(e.repos) {
			return nil
		}
		select {
		case <-wait.Done():
			if e.o.Rate <= 0 && e.o.Senders == 0 {
				// No jobs to offer: an idle run measures the agents all the same.
				fmt.Fprintf(e.o.Progress, "load: only %d of %d repositories owned after %s; idle run goes on\n", len(owned), len(e.repos), readyTimeout)
				e.unowned = len(e.repos) - len(owned)
				return nil
			}
			return fmt.Errorf("load: %d of %d repositories owned by an agent after %s: %w", len(owned), len(e.repos), readyTimeout, context.Cause(wait))
		case <-t.C:
		}
	}
}

// changePolicies makes o.PolicyChanges policy changes, paced one every
// Duration/(PolicyChanges+1) while jobs are sent, and lets the recorder time when the owning
// agent's held config poll returns. Each change waits until the previous one has reached its
// agent (at most changeTimeout, else a failure), so that a slow machine delays the changes
// instead of dropping them; changes left when sending stops are made right after it.
func (e *env) changePolicies(ctx, sending context.Context) {
	every := e.o.Duration / time.Duration(e.o.PolicyChanges+1)
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; i < e.o.PolicyChanges; i++ {
		if sending.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-sending.Done():
			case <-t.C:
			}
		}
		if !e.waitChange(ctx) {
			return
		}
		ri := (i * 7919) % len(e.repos)
		repo := e.repos[ri]
		e.rec.policyChanged(repo, time.Now())
		if _, err := e.hub.portal.PatchPolicy(ctx, repo, e.labels[ri][0], map[string]any{"max_runners": 1000 - i - 1}, ""); err != nil {
			e.rec.fail(ctx, "policy change", err)
		}
	}
	e.waitChange(ctx)
}

// waitChange waits until the last policy change has reached its agent. A change not seen
// within changeTimeout counts as a failure; false means ctx ended.
func (e *env) waitChange(ctx context.Context) bool {
	wait, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !e.rec.changeDone() {
		select {
		case <-ctx.Done():
			return false
		case <-wait.Done():
			e.rec.fail(ctx, "policy change", fmt.Errorf("not seen by its agent within %s", changeTimeout))
			e.rec.policyChanged("", time.Time{})
			return true
		case <-t.C:
		}
	}
	return true
}

// drain waits until every job sent has completed, or o.Drain.
func (e *env) drain(ctx context.Context) {
	wait, cancel := context.WithTimeout(ctx, e.o.Drain)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if e.o.Senders > 0 {
			return // an intake run's senders completed their jobs
		}
		e.rec.mu.Lock()
		open := 0
		for _, j := range e.rec.jobs {
			if j.completed.IsZero() {
				open++
			}
		}
		e.rec.mu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-wait.Done():
			return
		case <-t.C:
		}
	}
}
