// Package memory is a provider.Provider that keeps its instances in memory: each
// instance "runs" by calling a pluggable RunFunc in a goroutine (in tests, the GitHub
// simulator's RunRunner with the JIT config from the instance's environment, so that a
// memory runner really comes online, takes a job and exits). Hooks make creation fail,
// make a runner hang, or make an instance disappear behind the agent's back.
//
// It is meant for tests and demos: nothing survives the process.
package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/garo-dev/garo/agent/provider"
)

// RunFunc is the runner process of an instance. It returns when the runner exits: nil
// is exit code 0, an ExitError its code, any other error code 1. ctx ends when the
// instance is deleted.
type RunFunc func(ctx context.Context, r Runner) error

// Runner is what a RunFunc gets: the instance's name, labels and environment (which holds
// the runner's credentials: never log it).
type Runner struct {
	ID     string
	Name   string
	Labels map[string]string
	Env    map[string]string
}

// JITConfig returns the runner's just-in-time configuration from its environment.
func (r Runner) JITConfig() string { return r.Env[provider.EnvJITConfig] }

// ExitError makes a RunFunc end with a given exit code.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }

// Hang is a RunFunc that never comes online: it waits until the instance is deleted.
func Hang(ctx context.Context, _ Runner) error {
	<-ctx.Done()
	return nil
}

// Provider is the in-memory provider. The zero value is not usable; call New.
type Provider struct {
	run RunFunc
	now func() time.Time

	mu        sync.Mutex
	seq       int
	instances map[string]*instance
	failNext  []error
	hangNext  int
	created   int
	peak      map[string]int // highest number of live instances per repository/policy
	closed    bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancelAll context.CancelFunc
}

type instance struct {
	inst   provider.Instance
	cancel context.CancelFunc
	done   chan struct{}
}

// Option configures a Provider.
type Option func(*Provider)

// WithClock sets the clock that stamps CreatedAt (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// New returns a provider whose instances run run (nil: Hang).
func New(run RunFunc, opts ...Option) *Provider {
	if run == nil {
		run = Hang
	}
	// Runners outlive the calls that created them and the agent that asked, as containers
	// do (a restarted agent finds them again): the provider owns their lifetime, so their
	// root context is its own, ended by Close.
	ctx, cancel := context.WithCancel(context.Background())
	p := &Provider{run: run, now: time.Now, instances: map[string]*instance{}, peak: map[string]int{}, ctx: ctx, cancelAll: cancel}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name is "memory".
func (p *Provider) Name() string { return "memory" }

// FailNextCreate makes the next Create calls fail with errs, one each, in order.
func (p *Provider) FailNextCreate(errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext = append(p.failNext, errs...)
}

// HangNext makes the next n instances run Hang instead of the RunFunc: they never come
// online.
func (p *Provider) HangNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hangNext += n
}

// Vanish removes an instance behind the agent's back (as `docker rm -f` by someone else
// would): its runner is stopped and the instance is gone. False when there is no such
// instance.
func (p *Provider) Vanish(id string) bool {
	p.mu.Lock()
	in, ok := p.instances[id]
	if ok {
		delete(p.instances, id)
	}
	p.mu.Unlock()
	if ok {
		in.cancel()
		<-in.done
	}
	return ok
}

// Create starts an instance. Its RunFunc starts at once: the instance is StateRunning
// when Create returns, and StateExited when the RunFunc returned.
func (p *Provider) Create(ctx context.Context, req provider.RunnerRequest) (provider.Instance, error) {
	if err := ctx.Err(); err != nil {
		return provider.Instance{}, err
	}
	if req.Name == "" {
		return provider.Instance{}, fmt.Errorf("memory: %w: empty runner name", provider.ErrInvalidRequest)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return provider.Instance{}, errors.New("memory: provider closed")
	}
	if len(p.failNext) > 0 {
		err := p.failNext[0]
		p.failNext = p.failNext[1:]
		return provider.Instance{}, fmt.Errorf("memory: create %s: %w", req.Name, err)
	}
	for _, in := range p.instances {
		if in.inst.Name == req.Name {
			return provider.Instance{}, fmt.Errorf("memory: create %s: an instance of that name exists", req.Name)
		}
	}
	run := p.run
	if p.hangNext > 0 {
		p.hangNext--
		run = Hang
	}
	p.seq++
	p.created++
	id := fmt.Sprintf("mem-%06d", p.seq)
	env := maps.Clone(req.Spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, req.Env)
	rctx, cancel := context.WithCancel(p.ctx)
	in := &instance{
		inst: provider.Instance{
			ID: id, Name: req.Name, Labels: maps.Clone(req.Labels),
			State: provider.StateRunning, CreatedAt: p.now(),
		},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	p.instances[id] = in
	p.notePeakLocked(req.Labels)
	r := Runner{ID: id, Name: req.Name, Labels: maps.Clone(req.Labels), Env: env}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(in.done)
		err := run(rctx, r)
		code := 0
		var ee ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.Code
		case err != nil:
			code = 1
		}
		p.mu.Lock()
		in.inst.State, in.inst.ExitCode = provider.StateExited, code
		if err != nil {
			in.inst.Reason = "runner exited: " + err.Error()
		}
		p.mu.Unlock()
	}()
	return in.inst, nil
}

func key(labels map[string]string) string {
	return labels[provider.LabelRepository] + "/" + labels[provider.LabelPolicy]
}

func (p *Provider) notePeakLocked(labels map[string]string) {
	k, n := key(labels), 0
	for _, in := range p.instances {
		if in.inst.State != provider.StateExited && key(in.inst.Labels) == k {
			n++
		}
	}
	p.peak[k] = max(p.peak[k], n)
}

// Delete stops and removes the instance; a missing one is success.
func (p *Provider) Delete(ctx context.Context, id string) error {
	p.mu.Lock()
	in, ok := p.instances[id]
	if ok {
		delete(p.instances, id)
	}
	p.mu.Unlock()
	if !ok {
		return nil
	}
	in.cancel()
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return ctx.Err() // removed from the inventory already; the runner ends on its own
	}
}

// List returns the instances whose labels include selector, oldest first.
func (p *Provider) List(ctx context.Context, selector map[string]string) ([]provider.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []provider.Instance
	for _, in := range p.instances {
		if provider.Matches(in.inst.Labels, selector) {
			out = append(out, copyInstance(in.inst))
		}
	}
	slices.SortFunc(out, func(a, b provider.Instance) int { return compareIDs(a.ID, b.ID) })
	return out, nil
}

func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// State returns one instance; StateGone when it does not exist.
func (p *Provider) State(ctx context.Context, id string) (provider.Instance, error) {
	if err := ctx.Err(); err != nil {
		return provider.Instance{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	in, ok := p.instances[id]
	if !ok {
		return provider.Instance{ID: id, State: provider.StateGone, Reason: "no such instance"}, nil
	}
	return copyInstance(in.inst), nil
}

func copyInstance(i provider.Instance) provider.Instance {
	i.Labels = maps.Clone(i.Labels)
	return i
}

// Live counts the instances that are not exited, for selector.
func (p *Provider) Live(selector map[string]string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, in := range p.instances {
		if in.inst.State != provider.StateExited && provider.Matches(in.inst.Labels, selector) {
			n++
		}
	}
	return n
}

// Peak is the highest number of instances of one repository's policy that were alive
// (not exited) at the same time since the provider was made.
func (p *Provider) Peak(repository, policy string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak[repository+"/"+policy]
}

// Created counts the successful Create calls.
func (p *Provider) Created() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.created
}

// Close stops every runner and waits for their RunFuncs to return. Instances stay listed.
func (p *Provider) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancelAll()
	p.wg.Wait()
}
