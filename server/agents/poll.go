package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/policy"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// Kinds of long-polls.
const (
	PollConfig = "config"
	PollJobs   = "jobs"
)

// WaitConfig returns the config of agent a as soon as its version differs from have, or,
// when it stays at have for wait, nil and false. Every look first settles the ownership of
// a's group, so a repository whose owner went silent moves on this poll. A revoked agent
// gets ErrUnauthenticated, also while its poll is held.
func (s *Service) WaitConfig(ctx context.Context, a *store.Agent, have string, wait time.Duration) (*protocol.Config, bool, error) {
	var cfg *protocol.Config
	changed, err := s.hold(ctx, PollConfig, a, have, wait, func(ctx context.Context, sub *notify.Subscription) (string, error) {
		var err error
		cfg, err = s.config(ctx, a.ID, sub)
		if err != nil {
			return "", err
		}
		return cfg.Version, nil
	})
	if err != nil || !changed {
		return nil, false, err
	}
	return cfg, true, nil
}

// WaitJobs is WaitConfig for the jobs snapshot.
func (s *Service) WaitJobs(ctx context.Context, a *store.Agent, have string, wait time.Duration) (*protocol.JobsSnapshot, bool, error) {
	var snap *protocol.JobsSnapshot
	changed, err := s.hold(ctx, PollJobs, a, have, wait, func(ctx context.Context, sub *notify.Subscription) (string, error) {
		if s.snapshots.unchanged(a.ID, have, sub, s.now()) {
			return have, nil // the agent has what it would read: only a change ends the hold
		}
		// The memo's subscription starts before the read, as the hold's does.
		memo := s.notifier.Subscribe(TopicAgent(a.ID), TopicGroup(a.AgentGroup))
		var topics []string
		var err error
		snap, topics, err = s.jobs(ctx, a.ID, sub, memo)
		if err != nil {
			memo.Close()
			return "", err
		}
		s.snapshots.put(a.ID, snap, topics, memo, s.now())
		return snap.Version, nil
	})
	if err != nil || !changed {
		return nil, false, err
	}
	return snap, true, nil
}

// hold runs look until the version it returns differs from have, waking up on the
// subscription, for at most wait. The subscription starts before the first look, and look
// adds the topics of the repositories it finds before reading them, so no change that
// look could miss goes unannounced. At the end of the hold it answers unchanged without
// looking again: a poll that was not woken has nothing new to say.
func (s *Service) hold(ctx context.Context, kind string, a *store.Agent, have string, wait time.Duration,
	look func(ctx context.Context, sub *notify.Subscription) (string, error)) (bool, error) {
	// The agent's and its group's topics wake it on a subscription of their own: such a
	// change (on this replica or another) may need the group's ownership settled again, so
	// it ends the group's settle memo before the look.
	standing := s.notifier.Subscribe(TopicAgent(a.ID), TopicGroup(a.AgentGroup))
	defer standing.Close()
	sub := s.notifier.Subscribe()
	defer sub.Close()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	held := false
	defer func() {
		if held {
			s.countWaiting(kind, -1)
		}
	}()
	for {
		version, err := look(ctx, sub)
		if err != nil {
			return false, err
		}
		if version != have {
			return true, nil
		}
		if !held {
			held = true
			s.countWaiting(kind, 1)
		}
		select {
		case <-sub.C():
		case <-standing.C():
			s.forgetSettled(a.AgentGroup)
		case <-timer.C:
			return false, nil
		case <-s.stop:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("%s poll of agent %s: %w", kind, a.ID, ctx.Err())
		}
	}
}

func (s *Service) countWaiting(kind string, delta int64) {
	if kind == PollJobs {
		s.waitingJobs.Add(delta)
	} else {
		s.waitingConfig.Add(delta)
	}
	s.waiting.WithLabelValues(kind).Add(float64(delta))
}

// owned settles the group of agent id and returns the agent, the repositories it owns and
// their topics (from topic). The topics join subs before anything about them is read.
func (s *Service) owned(ctx context.Context, id string, topic func(string) string, subs ...*notify.Subscription) (*store.Agent, []string, []string, error) {
	a, err := s.current(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.settle(ctx, a.AgentGroup); err != nil {
		return nil, nil, nil, err
	}
	keys, err := s.st.OwnedRepos(ctx, a.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	slices.Sort(keys)
	topics := make([]string, len(keys))
	for i, k := range keys {
		topics[i] = topic(k)
	}
	for _, sub := range subs {
		if sub != nil {
			sub.Add(topics...)
		}
	}
	return a, keys, topics, nil
}

// config computes the config of agent id: the enabled policies of its group and of the
// provider it serves for the repositories it owns, but those that break the group's
// constraints, and the constraints themselves.
func (s *Service) config(ctx context.Context, id string, sub *notify.Subscription) (*protocol.Config, error) {
	a, keys, _, err := s.owned(ctx, id, TopicPolicies, sub)
	if err != nil {
		return nil, err
	}
	policies, err := s.st.PoliciesServedBy(ctx, a.AgentGroup, a.Serves, keys)
	if err != nil {
		return nil, err
	}
	g, err := s.st.GetAgentGroup(ctx, a.AgentGroup)
	if err != nil {
		return nil, err
	}
	s.countOnce(ctx, a.AgentGroup)
	cfg := &protocol.Config{AgentID: a.ID, Group: a.AgentGroup, Repositories: []string{}, Policies: make([]protocol.Policy, 0, len(policies)), Constraints: g.Constraints,
		Scheduling: protocol.Scheduling{MaxWait: protocol.Duration(s.cfg.MaxWait)}}
	for i := range policies {
		p := &policies[i]
		// A policy that breaks the group's constraints (tightened since it was written)
		// is not served (guardrails.go).
		if vs, err := policy.Violations(g, p); err != nil {
			return nil, err
		} else if len(vs) > 0 {
			continue
		}
		if n := len(cfg.Repositories); n == 0 || !strings.EqualFold(cfg.Repositories[n-1], p.Repository()) {
			cfg.Repositories = append(cfg.Repositories, p.Repository())
		}
		wire, err := toWirePolicy(p)
		if err != nil {
			return nil, err
		}
		cfg.Policies = append(cfg.Policies, wire)
	}
	cfg.Version, err = version(cfg)
	return cfg, err
}

func toWirePolicy(p *store.Policy) (protocol.Policy, error) {
	d, err := p.Decode()
	if err != nil {
		return protocol.Policy{}, err
	}
	return protocol.Policy{
		ID: p.ID, Repository: p.Repository(), Name: p.Name, Labels: d.Labels, MinIdle: p.MinIdle,
		MaxRunners: p.MaxRunners, Ephemeral: p.Ephemeral, IdleGrace: protocol.Duration(p.IdleGrace),
		BootstrapTimeout: protocol.Duration(p.BootstrapTimeout), Provider: p.Provider, Runner: d.Runner,
		Schedule: d.Schedule, Version: p.Version, Priority: p.Priority,
	}, nil
}

// jobs computes the jobs snapshot of agent id: the open jobs of the repositories it owns
// that are matched to an enabled policy of its group and of the provider it serves,
// oldest first. It returns the job-log topics of those repositories too, which joined
// subs before the jobs were read.
func (s *Service) jobs(ctx context.Context, id string, subs ...*notify.Subscription) (*protocol.JobsSnapshot, []string, error) {
	a, keys, topics, err := s.owned(ctx, id, TopicJobs, subs...)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.st.JobsServedBy(ctx, a.AgentGroup, a.Serves, keys, []string{portalapi.JobCompleted}, maxSnapshotJobs)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == maxSnapshotJobs {
		s.log.Warn("jobs snapshot truncated", "agent_id", a.ID, "jobs", len(rows))
	}
	snap := &protocol.JobsSnapshot{Jobs: make([]protocol.Job, 0, len(rows))}
	for i := range rows {
		j := &rows[i]
		labels := []string(j.Labels)
		if labels == nil {
			labels = []string{}
		}
		snap.Jobs = append(snap.Jobs, protocol.Job{
			ID: j.ID, Repository: j.Repository(), Policy: j.PolicyName, Labels: labels,
			Status: j.GitHubStatus, RunnerName: j.RunnerName, ReceivedAt: j.ReceivedAt.UTC(),
		})
	}
	snap.Version, err = version(snap)
	return snap, topics, err
}

// version hashes v (whose Version field is still empty): equal content, equal version, on
// every replica.
func version(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}
