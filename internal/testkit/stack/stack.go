// Package stack runs garo-server, the GitHub simulator and garo-agent together in one
// process on 127.0.0.1: the in-process stack of the end-to-end tests (e2e/) and of the
// demo (internal/demo). Its hub (package hub: the simulator and the server) runs the
// server on SQLite in Options.Dir (or on the database that Options.Server names) with the
// simulator as its GitHub App; agents start on demand, as many as a caller wants, on
// whatever provider their configuration or agentapp.Options names.
//
// It takes contexts and returns errors instead of a testing.T because the demo runs it
// outside tests. Test support only: no production binary imports it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	agentapp "github.com/garo-dev/garo/agent/app"
	"github.com/garo-dev/garo/internal/testkit/stack/hub"
)

// startTimeout bounds how long an agent may take to come up.
const startTimeout = 30 * time.Second

// Options shape a stack: those of its hub.
type Options = hub.Options

// Stack is a running hub (the simulator and the server) that agents are started on.
// Close stops the hub; agents are stopped by their own Stop, before Close.
type Stack struct {
	*hub.Hub
}

// Start starts the simulator and the server. ctx bounds the start only: the stack runs
// until Close.
func Start(ctx context.Context, o Options) (*Stack, error) {
	h, err := hub.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Stack{Hub: h}, nil
}

// AgentConfig is garo-agent's configuration for this stack: registering with token as
// name, its state file in Dir/name, no status endpoint, a quick scheduler. The provider
// is the caller's to choose (in the configuration or agentapp.Options.Provider).
func (s *Stack) AgentConfig(token, name string) agentapp.Config {
	cfg := agentapp.Defaults()
	cfg.Server.URL = s.ServerURL
	cfg.RegistrationToken = token
	cfg.Name = name
	cfg.StateFile = filepath.Join(s.Dir, name, "state.json")
	cfg.Status.Listen = ""
	cfg.Scheduler.Interval = 250 * time.Millisecond
	return cfg
}

// Agent is a garo-agent running in process.
type Agent struct {
	ID string // the agent id the server gave it

	cancel   context.CancelFunc
	done     chan error
	stopWait time.Duration
	once     sync.Once
	err      error
}

// StartAgent runs garo-agent with cfg and opts (opts.Ready is called too, if set) and
// returns once it is registered and ready. ctx bounds the start only: the agent runs
// until Stop.
func (s *Stack) StartAgent(ctx context.Context, cfg agentapp.Config, opts agentapp.Options) (*Agent, error) {
	agCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &Agent{cancel: cancel, done: make(chan error, 1), stopWait: cfg.Shutdown.Timeout + 30*time.Second}
	ready := make(chan string, 1)
	callerReady := opts.Ready
	opts.Ready = func(id string, addr net.Addr) {
		if callerReady != nil {
			callerReady(id, addr)
		}
		select { // only the first call is waited for
		case ready <- id:
		default:
		}
	}
	go func() { a.done <- agentapp.Run(agCtx, cfg, s.Log.With("side", "agent"), opts) }()
	wait, stopWait := context.WithTimeout(ctx, startTimeout)
	defer stopWait()
	select {
	case a.ID = <-ready:
		return a, nil
	case err := <-a.done:
		cancel()
		return nil, fmt.Errorf("stack: garo-agent did not start: %w", err)
	case <-wait.Done():
		cancel()
		return nil, fmt.Errorf("stack: garo-agent did not start: %w", errors.Join(context.Cause(wait), <-a.done))
	}
}

// Stop cancels the agent's context (it then shuts down as cfg.Shutdown says) and returns
// what its Run returned. Idempotent: later calls return the same.
func (a *Agent) Stop() error {
	a.once.Do(func() {
		a.cancel()
		select {
		case a.err = <-a.done:
		case <-time.After(a.stopWait):
			a.err = fmt.Errorf("stack: garo-agent did not stop within %s", a.stopWait)
		}
	})
	return a.err
}
