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
	"strings"
	"sync"
	"sync/atomic"
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
	// ListTimeout bounds one listing of the provider's instances; 0 means 30 s. A listing
	// that does not answer in time marks the provider unavailable with its error.
	ListTimeout time.Duration
	// ActionTimeout bounds one create or reap; 0 means 2 min.
	ActionTimeout time.Duration
	// Parallel actions at most; 0 means 8.
	Parallel int
	// Backoff paces creations of a policy after failed creations (no credentials, the
	// provider refused); zero value: 1 s → 60 s. A creation that succeeds resets it.
	Backoff backoff.Policy
	// CrashBackoff paces a policy whose runners fail before taking a job (see
	// Input.CrashBackoff); zero Base and Cap: 5 s doubling to 5 min. A runner of the
	// policy that takes a job resets it.
	CrashBackoff backoff.Policy
	// RefusedRetry is how long a runner whose removal was refused (busy, not owner)
	// is left alone; 0 means 30 s.
	RefusedRetry time.Duration
	// OnProvisioned observes the time from deciding to create a runner to seeing it run.
	OnProvisioned func(Key, time.Duration)
	// Capacity is what the agent may hold at once (zero: no limit); see Input.Capacity.
	Capacity Capacity
	// QuotaRetry is how long a policy whose runner a quota of the server held back waits
	// before it asks again; 0 means 5 s.
	QuotaRetry time.Duration
	// Journal keeps the records across a restart (nil: in memory only). The first tick
	// restores it; each tick that changes the records saves them before its actions
	// start, so that no credentials are minted for a runner the journal does not name.
	Journal Journal
}

// Scheduler runs Reconcile and its actions. Use Run, or Tick and Wait in tests.
//
// One goroutine owns its state: the one that calls Run (or, in tests and at shutdown
// once Run has returned, Tick and Wait; never two of them at once). Each tick it
// applies what the finished actions reported, lists the provider (bounded by
// ListTimeout, nothing locked), reconciles, publishes an immutable snapshot and hands the
// actions to workers, which report back on a channel and touch no record themselves.
// Heartbeat, Health, Records, Snapshot and Holds read the last snapshot and never wait
// on the provider or the network; SetConfig, SetJobs and SetDraining replace a value the
// next tick reads.
//
// A create that finishes while a listing runs is applied only after that listing has
// been reconciled, before the next one starts: a listing never misses a runner whose
// record says it was created, so no runner is taken for one that vanished.
type Scheduler struct {
	opts    Options
	log     *slog.Logger
	sem     chan struct{}
	wg      sync.WaitGroup
	wake    chan struct{}
	results chan func(*Scheduler) // what finished actions report, applied by the owner

	// Written by other goroutines, read by the owner at each tick.
	cfg      atomic.Pointer[protocol.Config]
	jobs     atomic.Pointer[protocol.JobsSnapshot]
	draining atomic.Bool
	fatal    atomic.Pointer[error]
	// snap is what readers see: replaced whole by the owner, never changed.
	snap atomic.Pointer[snapshot]

	// Owned by the goroutine that runs the loop: no lock, no other reader. A record
	// reached through it is never written (snapshots share them): a change replaces it.
	records    map[string]*Record
	inbox      []func(*Scheduler) // reports received, to apply before the next listing
	rebuilt    bool
	blocked    map[Key]Hold
	failures   map[Key]int
	backoffs   map[Key]Backoff
	health     ProviderHealth
	warned     map[string]bool
	lastPlan   Plan
	lastWarned time.Time
	specs      map[string]string // Specs(specsOf)
	specsOf    *protocol.Config
	journaled  []byte // what the journal holds
	journal    journalCoder
	scratch    Scratch // Reconcile's
	// journalDirty: the records may differ from what the journal holds (encoding
	// thousands of records every tick to find they did not was most of a steady tick).
	journalDirty bool
	journalErr   string // the last journal error logged
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
	if opts.ListTimeout <= 0 {
		opts.ListTimeout = 30 * time.Second
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 2 * time.Minute
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.QuotaRetry <= 0 {
		opts.QuotaRetry = quotaHold
	}
	if opts.RefusedRetry <= 0 {
		opts.RefusedRetry = 30 * time.Second
	}
	if opts.CrashBackoff.Base <= 0 {
		opts.CrashBackoff.Base = DefaultCrashBackoffBase
	}
	if opts.CrashBackoff.Cap <= 0 {
		opts.CrashBackoff.Cap = DefaultCrashBackoffCap
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		opts: opts, log: log, sem: make(chan struct{}, opts.Parallel), wake: make(chan struct{}, 1),
		results: make(chan func(*Scheduler), 256),
		records: map[string]*Record{}, blocked: map[Key]Hold{}, failures: map[Key]int{},
		backoffs: map[Key]Backoff{}, warned: map[string]bool{},
	}
	s.snap.Store(&snapshot{queues: map[Key]int{}, holds: map[Key]Hold{}})
	return s
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
	s.cfg.Store(&cfg)
	s.Wake()
}

// SetJobs replaces the jobs snapshot and wakes the loop.
func (s *Scheduler) SetJobs(jobs protocol.JobsSnapshot) {
	s.jobs.Store(&jobs)
	s.Wake()
}

// SetDraining stops (or resumes) creating runners; idle ones are reaped.
func (s *Scheduler) SetDraining(d bool) {
	if s.draining.Swap(d) != d {
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
// waits for its actions before it returns. Run owns the scheduler's state while it runs.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.Wait()
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		err := s.Tick(ctx)
		if errors.Is(err, protocol.ErrUnauthorized) {
			return err
		}
		s.warnProvider(ctx, err)
		select {
		case <-ctx.Done():
			return s.Fatal()
		case <-t.C:
		case <-s.wake:
		case f := <-s.results: // an action finished: tick again
			s.inbox = append(s.inbox, f)
		}
	}
}

// warnProvider logs a provider that cannot list its instances (the engine is down) when
// it starts failing, once a minute while it fails, and when it is back.
func (s *Scheduler) warnProvider(ctx context.Context, err error) {
	h := s.health
	switch {
	case err != nil && ctx.Err() == nil && s.opts.Now().Sub(s.lastWarned) >= providerWarnEvery:
		s.lastWarned = s.opts.Now()
		s.log.Warn("provider unavailable: nothing is created or removed until it answers", "err", err,
			"since", h.FailingSince, "for", s.opts.Now().Sub(h.FailingSince).Round(time.Second))
	case err == nil && !s.lastWarned.IsZero():
		s.lastWarned = time.Time{}
		s.log.Info("provider available again")
	}
}

// providerWarnEvery paces the warnings of a provider that keeps failing.
const providerWarnEvery = time.Minute

// Fatal returns the error that stopped provisioning, if any.
func (s *Scheduler) Fatal() error {
	if e := s.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// Wait waits for the actions under way and applies what they reported. Only the owner
// of the state calls it (see Scheduler).
func (s *Scheduler) Wait() {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	for {
		select {
		case f := <-s.results:
			s.inbox = append(s.inbox, f)
		case <-done:
			s.collect()
			if s.apply() {
				s.publish(s.snap.Load().at)
			}
			return
		}
	}
}

// collect takes in the reports waiting on the channel, without blocking.
func (s *Scheduler) collect() {
	for {
		select {
		case f := <-s.results:
			s.inbox = append(s.inbox, f)
		default:
			return
		}
	}
}

// apply applies the reports taken in so far; it reports whether there were any.
func (s *Scheduler) apply() bool {
	inbox := s.inbox
	s.inbox = nil
	for _, f := range inbox {
		f(s)
	}
	if len(inbox) > 0 {
		s.journalDirty = true // a report may have changed a record
	}
	return len(inbox) > 0
}

// report sends what an action found to the owner, which applies it before its next
// listing. Workers call it; they never touch the records themselves.
func (s *Scheduler) report(f func(*Scheduler)) { s.results <- f }

// Tick applies the reports of finished actions, lists the provider's instances,
// reconciles, publishes the result and starts the actions (which run in the background:
// Wait for them). The first tick adopts the agent's instances from their labels.
func (s *Scheduler) Tick(ctx context.Context) error {
	if err := s.Fatal(); err != nil {
		return err
	}
	// What finished before this listing starts is applied now, so that the listing
	// shows every runner whose create has reported back. What reports back while it
	// runs waits for the next tick: its record is still pending, and Reconcile leaves a
	// pending create alone.
	s.collect()
	s.apply()
	lctx, cancel := context.WithTimeout(ctx, s.opts.ListTimeout)
	inv, err := s.opts.Provider.List(lctx, map[string]string{provider.LabelManagedBy: provider.ManagedByGaro})
	cancel()
	now := s.opts.Now()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s (scheduler.list_timeout): %w", s.opts.ListTimeout, err)
		}
		err = fmt.Errorf("list %s instances: %w", s.opts.Provider.Name(), err)
		if s.health.Err == nil {
			s.health.FailingSince = now
		}
		s.health.OK, s.health.Err = false, err
		s.publish(now)
		return err
	}
	s.health = ProviderHealth{OK: true, LastOK: now}
	if !s.rebuilt {
		s.journalDirty = true
		s.restoreJournal(inv)
		before := len(s.records)
		s.records = Adopt(s.opts.AgentID, inv, s.records, now)
		s.rebuilt = true
		if n := len(s.records) - before; n > 0 {
			s.log.Info("adopted runners from the provider's labels", "runners", n)
		}
	}
	cfg := s.cfg.Load()
	if cfg != s.specsOf {
		s.specs, s.specsOf = Specs(cfg), cfg
	}
	plan := Reconcile(Input{
		Now: now, AgentID: s.opts.AgentID, Config: cfg, Jobs: s.jobs.Load(), Inventory: inv,
		Records: s.records, Draining: s.draining.Load(), Blocked: s.blocked, Backoff: s.backoffs,
		CrashBackoff: s.opts.CrashBackoff, NewName: s.opts.NewName, MaxLifetime: s.opts.MaxLifetime,
		Capacity: s.opts.Capacity, Specs: s.specs, Scratch: &s.scratch,
	})
	for _, w := range plan.Warnings {
		if !s.warned[w.Error()] {
			s.warned[w.Error()] = true
			s.log.Warn("schedule window skipped", "err", w)
		}
	}
	if plan.Changed {
		s.journalDirty = true
	}
	if plan.Changed { // (otherwise every record is the one it was)
		s.logTransitions(s.records, plan.Records)
	}
	s.logBackoff(s.backoffs, plan.Backoff, now)
	s.records, s.backoffs, s.lastPlan = plan.Records, plan.Backoff, plan
	s.publish(now)
	s.saveJournal()
	if s.opts.OnProvisioned != nil {
		for _, pv := range plan.Provisioned {
			s.opts.OnProvisioned(pv.Key, pv.After)
		}
	}
	for _, c := range plan.Creates {
		s.start(ctx, func(ctx context.Context) { s.create(ctx, cfg, c) })
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

func (s *Scheduler) logTransitions(old, next map[string]*Record) {
	for name, r := range next {
		o, had := old[name]
		if had && (o == r || o.State == r.State) {
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

// logBackoff logs each change of a policy's crash-loop back-off once: a new failure
// counted (and the next try), and the end of it.
func (s *Scheduler) logBackoff(old, next map[Key]Backoff, now time.Time) {
	for k, b := range next {
		if o := old[k]; o.Failures == b.Failures && o.Until.Equal(b.Until) {
			continue
		}
		s.log.Warn("policy backing off: its runners fail before taking a job", "repo", k.Repository, "policy", k.Policy,
			"failures", b.Failures, "retry_in", b.Until.Sub(now).Round(time.Millisecond), "retry_at", b.Until, "reason", b.Reason)
	}
	for k, o := range old {
		if _, still := next[k]; !still {
			s.log.Info("policy back-off over: a runner took a job (or the policy is gone)", "repo", k.Repository,
				"policy", k.Policy, "failures", o.Failures)
		}
	}
}

func (s *Scheduler) setFatal(err error) {
	s.fatal.CompareAndSwap(nil, &err)
	s.Wake()
}
