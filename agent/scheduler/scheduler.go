// Package scheduler keeps each policy's runners right: it owns the agent's runner
// records, decides with Reconcile (pure, clock injected) what to create and what to
// reap, and carries the actions out through a provider and the server client.
//
// How it learns what a runner does: the jobs snapshot says which runner runs which job
// (busy); the provider says whether an instance runs, exited or is gone. An ephemeral
// runner whose job left the snapshot has finished; one that exits without having taken
// a job has failed, and so has one that did not start, or let a queued job of its policy
// wait, for bootstrap_timeout.
package scheduler

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/shared/backoff"
	"github.com/garo-dev/garo/shared/protocol"
)

// Server is the part of the protocol client the scheduler needs.
type Server interface {
	Credentials(ctx context.Context, req protocol.CredentialsRequest) (protocol.Credentials, error)
	RemoveRunner(ctx context.Context, req protocol.RemoveRunnerRequest) error
}

// Options configure a Scheduler.
type Options struct {
	AgentID  string
	Provider provider.Provider
	Server   Server
	Log      *slog.Logger     // nil discards
	Now      func() time.Time // nil: time.Now
	// NewName returns a fresh runner name; nil: "garo-<policy>-<random>".
	NewName func(Key) string
	// MaxLifetime is the expiry set on new runners (0: none). A runner past it is reaped
	// unless busy.
	MaxLifetime time.Duration
	// Interval between ticks when nothing else wakes the loop; 0 means 2 s.
	Interval time.Duration
	// ActionTimeout bounds one create or reap; 0 means 2 min.
	ActionTimeout time.Duration
	// Parallel actions at most; 0 means 8.
	Parallel int
	// Backoff paces creations of a policy after failures; zero value: 1 s → 60 s.
	Backoff backoff.Policy
	// RefusedRetry is how long a runner whose removal was refused (busy, not owner)
	// is left alone; 0 means 30 s.
	RefusedRetry time.Duration
	// OnProvisioned observes the time from deciding to create a runner to seeing it run.
	OnProvisioned func(Key, time.Duration)
}

// Scheduler runs Reconcile and its actions. Use Run, or Tick and Wait in tests.
type Scheduler struct {
	opts Options
	log  *slog.Logger
	sem  chan struct{}
	wg   sync.WaitGroup
	wake chan struct{}

	mu       sync.Mutex
	cfg      *protocol.Config
	jobs     *protocol.JobsSnapshot
	records  map[string]Record
	rebuilt  bool
	draining bool
	blocked  map[Key]time.Time
	failures map[Key]int
	statuses []protocol.JobStatus
	queues   map[Key]int
	fatal    error
	health   ProviderHealth
	warned   map[string]bool
}

// New returns a Scheduler; it does nothing until Tick or Run.
func New(opts Options) *Scheduler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewName == nil {
		opts.NewName = RandomName
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 2 * time.Minute
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.RefusedRetry <= 0 {
		opts.RefusedRetry = 30 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		opts: opts, log: log, sem: make(chan struct{}, opts.Parallel), wake: make(chan struct{}, 1),
		records: map[string]Record{}, blocked: map[Key]time.Time{}, failures: map[Key]int{},
		queues: map[Key]int{}, warned: map[string]bool{},
	}
}

// RandomName is "garo-<policy>-<10 random characters>", at most 45 characters of
// [a-z0-9-], so that it is a valid runner, container and pod name.
func RandomName(k Key) string {
	var b strings.Builder
	for _, c := range strings.ToLower(k.Policy) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	pol := strings.Trim(b.String(), "-")
	if len(pol) > 24 {
		pol = strings.TrimRight(pol[:24], "-")
	}
	if pol == "" {
		pol = "runner"
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffix := []byte(rand.Text()[:10])
	for i, c := range suffix {
		suffix[i] = alphabet[int(c)%len(alphabet)]
	}
	return "garo-" + pol + "-" + string(suffix)
}

// SetConfig replaces the configuration and wakes the loop.
func (s *Scheduler) SetConfig(cfg protocol.Config) {
	s.mu.Lock()
	s.cfg = &cfg
	s.mu.Unlock()
	s.Wake()
}

// SetJobs replaces the jobs snapshot and wakes the loop.
func (s *Scheduler) SetJobs(jobs protocol.JobsSnapshot) {
	s.mu.Lock()
	s.jobs = &jobs
	s.mu.Unlock()
	s.Wake()
}

// SetDraining stops (or resumes) creating runners; idle ones are reaped.
func (s *Scheduler) SetDraining(d bool) {
	s.mu.Lock()
	changed := s.draining != d
	s.draining = d
	s.mu.Unlock()
	if changed {
		s.log.Info("draining", "draining", d)
		s.Wake()
	}
}

// Wake makes Run tick now.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run ticks until ctx ends or a fatal error (the credential was rejected) occurs. It
// waits for its actions before it returns.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	var lastWarned time.Time
	for {
		err := s.Tick(ctx)
		if errors.Is(err, protocol.ErrUnauthorized) {
			return err
		}
		// A provider that cannot list its instances (the engine is down) is logged when
		// it starts failing, once a minute while it fails, and when it is back.
		h := s.Health()
		switch {
		case err != nil && ctx.Err() == nil && s.opts.Now().Sub(lastWarned) >= providerWarnEvery:
			lastWarned = s.opts.Now()
			s.log.Warn("provider unavailable: nothing is created or removed until it answers", "err", err,
				"since", h.FailingSince, "for", s.opts.Now().Sub(h.FailingSince).Round(time.Second))
		case err == nil && !lastWarned.IsZero():
			lastWarned = time.Time{}
			s.log.Info("provider available again")
		}
		select {
		case <-ctx.Done():
			return s.Fatal()
		case <-t.C:
		case <-s.wake:
		}
	}
}

// providerWarnEvery paces the warnings of a provider that keeps failing.
const providerWarnEvery = time.Minute

// ProviderHealth is whether the provider answered the last tick's listing.
type ProviderHealth struct {
	OK           bool
	LastOK       time.Time // the last tick that listed the instances; zero before the first
	Err          error     // the last listing's error, while it fails
	FailingSince time.Time // the first failing tick of the current run of failures
}

// Health reports the provider's health as the ticks saw it.
func (s *Scheduler) Health() ProviderHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Fatal returns the error that stopped provisioning, if any.
func (s *Scheduler) Fatal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// Wait waits for the actions under way.
func (s *Scheduler) Wait() { s.wg.Wait() }

// Tick lists the provider's instances, reconciles, and starts the actions (which run in
// the background: Wait for them). The first tick adopts the agent's instances from
// their labels.
func (s *Scheduler) Tick(ctx context.Context) error {
	if err := s.Fatal(); err != nil {
		return err
	}
	// The inventory is listed under the lock: a create that finishes between an unlocked
	// list and the lock would otherwise hold a record the list cannot show, and the
	// runner would be taken for one that disappeared (and be deleted while it may run a
	// job). Creates report back through the same lock, so every finished create is in
	// the list, and an unfinished one is still Pending.
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, err := s.opts.Provider.List(ctx, map[string]string{provider.LabelManagedBy: provider.ManagedByGaro})
	now := s.opts.Now()
	if err != nil {
		err = fmt.Errorf("list %s instances: %w", s.opts.Provider.Name(), err)
		if s.health.Err == nil {
			s.health.FailingSince = now
		}
		s.health.OK, s.health.Err = false, err
		return err
	}
	s.health = ProviderHealth{OK: true, LastOK: now}
	if !s.rebuilt {
		before := len(s.records)
		s.records = Adopt(s.opts.AgentID, inv, s.records, now)
		s.rebuilt = true
		if n := len(s.records) - before; n > 0 {
			s.log.Info("adopted runners from the provider's labels", "runners", n)
		}
	}
	plan := Reconcile(Input{
		Now: now, AgentID: s.opts.AgentID, Config: s.cfg, Jobs: s.jobs, Inventory: inv,
		Records: s.records, Draining: s.draining, Blocked: s.blocked, NewName: s.opts.NewName,
		MaxLifetime: s.opts.MaxLifetime,
	})
	for _, w := range plan.Warnings {
		if !s.warned[w.Error()] {
			s.warned[w.Error()] = true
			s.log.Warn("schedule window skipped", "err", w)
		}
	}
	s.logTransitions(s.records, plan.Records)
	s.records, s.statuses, s.queues = plan.Records, plan.Jobs, plan.Queues
	if s.opts.OnProvisioned != nil {
		for _, pv := range plan.Provisioned {
			s.opts.OnProvisioned(pv.Key, pv.After)
		}
	}
	for _, c := range plan.Creates {
		s.start(ctx, func(ctx context.Context) { s.create(ctx, c) })
	}
	for _, rp := range plan.Reaps {
		s.start(ctx, func(ctx context.Context) { s.reap(ctx, rp) })
	}
	return nil
}

// start runs one action in the background, at most Parallel at a time.
func (s *Scheduler) start(ctx context.Context, f func(context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			f(ctx) // on an ended context: the action only clears its record's pending mark
			return
		}
		defer func() { <-s.sem }()
		actx, cancel := context.WithTimeout(ctx, s.opts.ActionTimeout)
		defer cancel()
		f(actx)
	}()
}

func (s *Scheduler) logTransitions(old, next map[string]Record) {
	for name, r := range next {
		o, had := old[name]
		if had && o.State == r.State {
			continue
		}
		attrs := []any{"repo", r.Repository, "policy", r.Policy, "runner", name, "state", r.State}
		if r.JobID != 0 {
			attrs = append(attrs, "job_id", r.JobID)
		}
		if r.Reason != "" {
			attrs = append(attrs, "reason", r.Reason)
		}
		switch {
		case !had && r.State == protocol.RunnerCreating:
			if r.ForJob != 0 {
				attrs = append(attrs, "for_job", r.ForJob)
			}
			s.log.Info("creating runner", attrs...)
		case !had:
			s.log.Info("adopted runner", attrs...)
		case r.State == protocol.RunnerFailed:
			s.log.Warn("runner failed", attrs...)
		default:
			s.log.Debug("runner state", attrs...)
		}
	}
}

// update changes one record under the lock, if it still exists.
func (s *Scheduler) update(name string, f func(*Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.records[name]; ok {
		f(&r)
		s.records[name] = r
	}
}

func (s *Scheduler) setFatal(err error) {
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = err
	}
	s.mu.Unlock()
	s.Wake()
}

// Records returns a copy of the runner records, sorted by name.
func (s *Scheduler) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Heartbeat is the agent's report: its state, runners and jobs. Reporting it again is
// harmless: the server replaces what it knew.
func (s *Scheduler) Heartbeat() protocol.HeartbeatRequest {
	recs := s.Records()
	s.mu.Lock()
	defer s.mu.Unlock()
	hb := protocol.HeartbeatRequest{State: protocol.AgentActive, Runners: []protocol.RunnerStatus{}, Jobs: slices.Clone(s.statuses)}
	if s.draining {
		hb.State = protocol.AgentDraining
	}
	if hb.Jobs == nil {
		hb.Jobs = []protocol.JobStatus{}
	}
	for _, r := range recs {
		if r.Repository == "" || r.Policy == "" {
			continue // an unlabelled orphan on its way out: nothing the server could file
		}
		hb.Runners = append(hb.Runners, r.Status())
	}
	return hb
}

// Snapshot counts runners per policy and state, and jobs waiting for capacity per
// policy, for metrics.
func (s *Scheduler) Snapshot() (runners map[Key]map[protocol.RunnerState]int, queues map[Key]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	runners = map[Key]map[protocol.RunnerState]int{}
	for _, r := range s.records {
		if runners[r.Key] == nil {
			runners[r.Key] = map[protocol.RunnerState]int{}
		}
		runners[r.Key][r.State]++
	}
	queues = map[Key]int{}
	for k, n := range s.queues {
		queues[k] = n
	}
	return runners, queues
}
