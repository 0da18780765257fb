// Package agenttest plays the agent's peers for the tests of the agent's packages
// (agent/scheduler, agent/app, the providers): garo-server's runner calls and its jobs
// answer, on the GitHub simulator (Server, Jobs), and a provider whose engine stops
// answering (HungProvider), with WaitState, the one wait for an instance's state. Tests
// only: no production binary imports it (layout_test.go proves it).
package agenttest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garo-dev/garo/agent/provider"
	"github.com/garo-dev/garo/githubsim"
	"github.com/garo-dev/garo/internal/testkit/simtest"
	"github.com/garo-dev/garo/shared/protocol"
	"github.com/garo-dev/garo/shared/spec"
)

// Server plays garo-server's runner calls for the agent: it mints JIT configurations and
// removes runners on the simulator, as the server does through its GitHub App. Down makes
// every call fail with its error, as in an outage. The counters are safe to read while
// the agent runs.
type Server struct {
	Env  *simtest.Env
	Down atomic.Pointer[error]
	// Creds counts the credentials asked for while not down; Removes the removals asked
	// for while not down, and Refused those GitHub refused because the runner was busy.
	Creds, Removes, Refused atomic.Int32
}

func (s *Server) down() error {
	if e := s.Down.Load(); e != nil {
		return *e
	}
	return nil
}

// Credentials mints a JIT configuration for req's runner on req's repository, labelled
// as garo-server labels a runner of a policy whose one label is the policy's name
// (spec.RunnerLabels: self-hosted, Linux, X64 and that name).
func (s *Server) Credentials(ctx context.Context, req protocol.CredentialsRequest) (protocol.Credentials, error) {
	if err := s.down(); err != nil {
		return protocol.Credentials{}, err
	}
	s.Creds.Add(1)
	id, jit, err := s.Env.JIT(ctx, req.Repository, req.RunnerName, spec.RunnerLabels([]string{req.Policy}))
	if err != nil {
		return protocol.Credentials{}, err
	}
	return protocol.Credentials{Kind: "jit", RunnerName: req.RunnerName, RunnerID: id, JITConfig: jit, Ephemeral: true}, nil
}

// RemoveRunner deletes the runner's registration: gone already is success, busy (GitHub's
// 422) is protocol.ErrRunnerBusy, as garo-server answers.
func (s *Server) RemoveRunner(ctx context.Context, req protocol.RemoveRunnerRequest) error {
	if err := s.down(); err != nil {
		return err
	}
	s.Removes.Add(1)
	id := req.RunnerID
	if id == 0 {
		// Without a GitHub id (the agent died before it learnt it), garo-server finds the
		// runner by its name.
		for _, r := range s.Env.Sim.Runners(req.Repository) {
			if r.Name == req.RunnerName {
				id = r.ID
			}
		}
		if id == 0 {
			return nil // not at GitHub
		}
	}
	status, err := s.Env.RemoveRunner(ctx, req.Repository, id)
	switch {
	case err != nil:
		return err
	case status == http.StatusNoContent || status == http.StatusNotFound:
		return nil
	case status == http.StatusUnprocessableEntity:
		s.Refused.Add(1)
		return protocol.ErrRunnerBusy
	}
	return fmt.Errorf("remove runner %d: %d", id, status)
}

// Jobs is what garo-server's jobs long-poll answers for repo: its open jobs on the
// simulator, each matched to the policy named like its last label, and a version that
// changes with them.
func Jobs(sim *githubsim.Sim, repo string) protocol.JobsSnapshot {
	snap := protocol.JobsSnapshot{Jobs: []protocol.Job{}}
	for _, j := range sim.Jobs(repo) {
		if j.Status == "completed" {
			continue
		}
		snap.Jobs = append(snap.Jobs, protocol.Job{
			ID: j.ID, Repository: repo, Policy: j.Labels[len(j.Labels)-1], Labels: j.Labels,
			Status: j.Status, RunnerName: j.RunnerName, ReceivedAt: j.CreatedAt,
		})
	}
	b, err := json.Marshal(snap.Jobs)
	if err != nil { // plain structs: cannot happen
		panic(err)
	}
	sum := sha256.Sum256(b)
	snap.Version = hex.EncodeToString(sum[:8])
	return snap
}

// HungProvider is a provider whose engine accepts calls and, once hung, never answers
// them: List blocks until its context ends. Everything else is the wrapped provider's.
type HungProvider struct {
	provider.Provider
	hung  atomic.Bool
	lists atomic.Int32
}

// Hang wraps p; its listings answer until SetHung(true).
func Hang(p provider.Provider) *HungProvider { return &HungProvider{Provider: p} }

// SetHung makes the listings that start from now on hang (true) or answer (false).
func (h *HungProvider) SetHung(hung bool) { h.hung.Store(hung) }

// HungListings is how many listings started while hung.
func (h *HungProvider) HungListings() int { return int(h.lists.Load()) }

// List is the wrapped provider's, or, while hung, waits for ctx and returns its error.
func (h *HungProvider) List(ctx context.Context, sel map[string]string) ([]provider.Instance, error) {
	if h.hung.Load() {
		h.lists.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Provider.List(ctx, sel)
}

// WaitState polls p's State of id until it is want (providers push nothing), and fails
// the test with the last state seen when it is not within timeout, or when State fails.
func WaitState(t testing.TB, p provider.Provider, id string, want provider.State, timeout time.Duration) provider.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		in, err := p.State(ctx, id)
		if err != nil {
			t.Fatalf("state of %s: %v", id, err)
		}
		if in.State == want {
			return in
		}
		select {
		case <-ctx.Done():
			t.Fatalf("state of %s: still %s (%s) after %s, want %s", id, in.State, in.Reason, timeout, want)
		case <-tick.C:
		}
	}
}
