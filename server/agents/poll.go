package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	m := memoized{s: s, kind: PollConfig, memo: s.configs, a: a, have: have}
	changed, err := s.hold(ctx, PollConfig, a, have, wait, func(ctx context.Context, fresh *store.Agent, sub *notify.Subscription) (string, error) {
		if m.unchanged(sub) {
			return have, nil // the agent has what it would read: only a change ends the hold
		}
		memo := m.subscribe()
		var topics []string
		var err error
		cfg, topics, err = s.config(ctx, a.ID, fresh, sub, memo)
		if err != nil {
			memo.Close()
			return "", err
		}
		m.put(cfg.Version, topics, memo)
		return cfg.Version, nil
	}, m.quiet)
	if err != nil || !changed {
		return nil, false, err
	}
	return cfg, true, nil
}

// WaitJobs is WaitConfig for the jobs snapshot.
func (s *Service) WaitJobs(ctx context.Context, a *store.Agent, have string, wait time.Duration) (*protocol.JobsSnapshot, bool, error) {
	var snap *protocol.JobsSnapshot
	m := memoized{s: s, kind: PollJobs, memo: s.snapshots, a: a, have: have}
	changed, err := s.hold(ctx, PollJobs, a, have, wait, func(ctx context.Context, fresh *store.Agent, sub *notify.Subscription) (string, error) {
		if m.unchanged(sub) {
			return have, nil // the agent has what it would read: only a change ends the hold
		}
		memo := m.subscribe()
		var topics []string
		var err error
		snap, topics, err = s.jobs(ctx, a.ID, fresh, sub, memo)
		if err != nil {
			memo.Close()
			return "", err
		}
		m.put(snap.Version, topics, memo)
		return snap.Version, nil
	}, m.quiet)
	if err != nil || !changed {
		return nil, false, err
	}
	return snap, true, nil
}

// memoized is one poll's use of its kind's memo (snapshots): what the poll's looks found,
// and the topics of its repositories as the last of them knew them.
type memoized struct {
	s      *Service
	kind   string
	memo   *snapshots
	a      *store.Agent
	have   string
	topics []string
	known  bool // topics are those of the version have
}

func (m *memoized) unchanged(sub *notify.Subscription) bool {
	topics, ok := m.memo.unchanged(m.a.ID, m.have, sub, m.s.now())
	if ok {
		m.topics, m.known = topics, true
	}
	return ok
}

// subscribe starts the memo's subscription of a look, before it reads.
func (m *memoized) subscribe() *notify.Subscription {
	m.s.polls.looked(m.kind)
	return m.s.notifier.Subscribe(TopicAgent(m.a.ID), TopicGroup(m.a.AgentGroup))
}

func (m *memoized) put(version string, topics []string, sub *notify.Subscription) {
	m.memo.put(m.a.ID, version, topics, sub, m.s.now())
	m.topics, m.known = topics, version == m.have
}

// quiet is called at the end of a hold that nothing woke (held reports whether that is
// still so): the agent's version is current, and the poll it sends next, at once, is
// answered from the memo. The memo's subscription starts before held is asked, so no
// change falls between the two.
func (m *memoized) quiet(held func() bool) {
	if !m.known {
		return
	}
	sub := m.s.notifier.Subscribe(append([]string{TopicAgent(m.a.ID), TopicGroup(m.a.AgentGroup)}, m.topics...)...)
	if !held() {
		sub.Close()
		return
	}
	m.memo.put(m.a.ID, m.have, m.topics, sub, m.s.now())
}

// hold runs look until the version it returns differs from have, waking up on the
// subscription, for at most wait. The subscription starts before the first look, and look
// adds the topics of the repositories it finds before reading them, so no change that
// look could miss goes unannounced. At the end of the hold it answers unchanged without
// looking again: a poll that was not woken has nothing new to say, and quiet hears so
// (with a check that it still holds) before the hold's subscriptions end. The first look
// uses a, which the caller has just authenticated; later looks read the agent again.
func (s *Service) hold(ctx context.Context, kind string, a *store.Agent, have string, wait time.Duration,
	look func(ctx context.Context, a *store.Agent, sub *notify.Subscription) (string, error), quiet func(held func() bool)) (bool, error) {
	// The agent's and its group's topics wake it on a subscription of their own: such a
	// change (on this replica or another) may need the group's ownership settled again, so
	// it ends the group's settle memo before the look.
	standing := s.notifier.Subscribe(TopicAgent(a.ID), TopicGroup(a.AgentGroup))
	defer standing.Close()
	// The group's settle topic (a policy written, an agent come or gone) asks only for the
	// group's ownership to be settled: one goroutine of this server does that for all its
	// held polls of the group (watchSettle), and the settle wakes on TopicAgent the agents
	// whose set changed. The poll itself does not look: what it serves changed only if that
	// settle says so, or a topic of its repositories does.
	if wait > 0 {
		defer s.watchSettle(ctx, a.AgentGroup)()
	}
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
	for fresh := a; ; fresh = nil {
		version, err := look(ctx, fresh, sub)
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
			s.polls.woke(kind, "repository")
		case <-standing.C():
			s.polls.woke(kind, "agent_or_group")
			s.forgetSettled(a.AgentGroup)
		case <-timer.C:
			quiet(func() bool {
				select {
				case <-sub.C():
					return false
				case <-standing.C():
					return false
				default:
					return true
				}
			})
			return false, nil
		case <-s.stop:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("%s poll of agent %s: %w", kind, a.ID, ctx.Err())
		}
	}
}

// pollMetrics count what held polls do: a change that makes many of them look shows here.
type pollMetrics struct {
	looks, settles atomic.Int64
	looksBy        *prometheus.CounterVec
	wakeupsBy      *prometheus.CounterVec
	settlesC       prometheus.Counter
	checksC        prometheus.Counter
}

func newPollMetrics() *pollMetrics {
	return &pollMetrics{
		looksBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_agent_poll_looks_total",
			Help: "Reads of an agent's config or jobs by its long-polls (one per wake-up that may change it, and the first of a poll the memo does not answer), by kind.",
		}, []string{"kind"}),
		wakeupsBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_agent_poll_wakeups_total",
			Help: "Wake-ups of held agent long-polls, by kind and cause (repository: a policy or job of its repositories; agent_or_group: its ownership, revocation, its group's constraints).",
		}, []string{"kind", "cause"}),
		settlesC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_agent_group_settles_on_change_total",
			Help: "Settles of a group's ownership that this server ran because a change asked for one (a policy written, an agent come or gone), one per change however many polls of the group it holds.",
		}),
		checksC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_agent_ownership_checks_total",
			Help: "Checks of a group's ownership against its policies and live agents (two counts over them in the database): the looks and heartbeats that find the settle memo run out share one.",
		}),
	}
}

func (m *pollMetrics) looked(kind string) {
	m.looks.Add(1)
	m.looksBy.WithLabelValues(kind).Inc()
}

func (m *pollMetrics) woke(kind, cause string) { m.wakeupsBy.WithLabelValues(kind, cause).Inc() }

func (m *pollMetrics) settled() {
	m.settles.Add(1)
	m.settlesC.Inc()
}

// PollLooks counts the looks of every poll so far (garo_agent_poll_looks_total), and the
// settles that changes asked for (garo_agent_group_settles_on_change_total).
func (s *Service) PollLooks() (looks, settles int64) {
	return s.polls.looks.Load(), s.polls.settles.Load()
}

// groupSettlers are the goroutines that settle a group when its settle topic is
// published, one per group with a poll held on this server. The zero value is ready.
type groupSettlers struct {
	mu     sync.Mutex
	groups map[string]*groupSettler
}

type groupSettler struct {
	refs    int
	cancel  context.CancelFunc
	done    chan struct{}
	running chan struct{} // closed when the settle in progress ends; nil between settles
}

// watchSettle makes sure that a goroutine settles group whenever its settle topic is
// published, until the returned release is called (by every caller, once). Wake-ups
// during a settle make one more settle after it, however many polls of the group are held.
func (s *Service) watchSettle(ctx context.Context, group string) (release func()) {
	g := &s.settlers
	g.mu.Lock()
	w := g.groups[group]
	if w == nil {
		if g.groups == nil {
			g.groups = map[string]*groupSettler{}
		}
		// The goroutine outlives the poll that starts it (a later poll of the group may
		// still be held): the last release cancels it.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		w = &groupSettler{cancel: cancel, done: make(chan struct{})}
		g.groups[group] = w
		sub := s.notifier.Subscribe(TopicSettle(group))
		go func() {
			defer close(w.done)
			defer sub.Close()
			s.settleOnWake(wctx, group, w, sub)
		}()
	}
	w.refs++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		w.refs--
		last := w.refs == 0
		if last {
			delete(g.groups, group)
		}
		g.mu.Unlock()
		if last {
			w.cancel()
			<-w.done
		}
	}
}

// await waits for the settle of group in progress, if any, by its watchSettle goroutine.
func (g *groupSettlers) await(ctx context.Context, group string) error {
	g.mu.Lock()
	var running chan struct{}
	if w := g.groups[group]; w != nil {
		running = w.running
	}
	g.mu.Unlock()
	if running == nil {
		return nil
	}
	select {
	case <-running:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("settle ownership of group %s: %w", group, ctx.Err())
	}
}

// watching reports whether a goroutine of watchSettle settles group on its settle topic.
func (g *groupSettlers) watching(group string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.groups[group] != nil
}

// forgetSettledUnwatched ends the settle memo of group ("": of every group) unless a
// goroutine of watchSettle settles it on its settle topic, which a change publishes: the
// looks of the polls that the change wakes then use the memo instead of checking the group
// again beside that settle (the owner's answer to a policy change waited for two checks of
// a group of 5,000 policies, issue 15); an agent whose repositories the settle changes is
// woken on its own topic, which ends the memo (hold).
func (s *Service) forgetSettledUnwatched(group string) {
	if group != "" {
		if !s.settlers.watching(group) {
			s.forgetSettled(group)
		}
		return
	}
	s.settledMu.Lock()
	defer s.settledMu.Unlock()
	// Every group ever looked at (settleState), also one whose check is in flight.
	for g := range s.settleGen {
		if !s.settlers.watching(g) {
			delete(s.settledAt, g)
			s.settleGen[g]++
		}
	}
}

// settleOnWake settles group after each wake-up of sub, until ctx ends or the polls stop.
// A failure is logged: the next look of a poll of the group settles it again.
func (s *Service) settleOnWake(ctx context.Context, group string, w *groupSettler, sub *notify.Subscription) {
	g := &s.settlers
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-sub.C():
		}
		s.polls.settled()
		running := make(chan struct{})
		g.mu.Lock()
		w.running = running
		g.mu.Unlock()
		err := s.settleNow(ctx, group)
		g.mu.Lock()
		w.running = nil
		g.mu.Unlock()
		close(running)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("settle ownership after a change failed", "group", group, "err", err)
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

// owned settles the group of agent id and returns the agent, the repositories it owns
// and their topics (from topics, per repository). The topics join subs before anything
// about them is read. fresh, when not nil, is agent id as just read (authenticated); else
// it is read.
func (s *Service) owned(ctx context.Context, id string, fresh *store.Agent, subs []*notify.Subscription, topics ...func(string) string) (*store.Agent, []string, []string, error) {
	a := fresh
	if a == nil {
		var err error
		if a, err = s.current(ctx, id); err != nil {
			return nil, nil, nil, err
		}
	}
	// A change woke this look and the group's settler together: when the memo ran out, the
	// settler's settle, once done, leaves it fresh, so that the look does not check the
	// group a second time beside it.
	if !s.settledRecently(a.AgentGroup, s.now()) {
		if err := s.settlers.await(ctx, a.AgentGroup); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := s.settle(ctx, a.AgentGroup); err != nil {
		return nil, nil, nil, err
	}
	keys, err := s.st.OwnedRepos(ctx, a.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	slices.Sort(keys)
	names := make([]string, 0, len(keys)*len(topics))
	for _, k := range keys {
		for _, topic := range topics {
			names = append(names, topic(k))
		}
	}
	for _, sub := range subs {
		if sub != nil {
			sub.Add(names...)
		}
	}
	return a, keys, names, nil
}

// config computes the config of agent id: the enabled policies of its group and of the
// provider it serves for the repositories it owns, but those that break the group's
// constraints, and the constraints themselves; and the topics of those repositories,
// which join subs before they are read.
func (s *Service) config(ctx context.Context, id string, fresh *store.Agent, subs ...*notify.Subscription) (*protocol.Config, []string, error) {
	a, keys, topics, err := s.owned(ctx, id, fresh, subs, TopicPolicies)
	if err != nil {
		return nil, nil, err
	}
	policies, err := s.st.PoliciesServedBy(ctx, a.AgentGroup, a.Serves, keys)
	if err != nil {
		return nil, nil, err
	}
	g, err := s.st.GetAgentGroup(ctx, a.AgentGroup)
	if err != nil {
		return nil, nil, err
	}
	s.countOnce(ctx, a.AgentGroup)
	cfg := &protocol.Config{AgentID: a.ID, Group: a.AgentGroup, Repositories: []string{}, Policies: make([]protocol.Policy, 0, len(policies)), Constraints: g.Constraints,
		Scheduling: protocol.Scheduling{MaxWait: protocol.Duration(s.cfg.MaxWait)}}
	for i := range policies {
		p := &policies[i]
		// A policy that breaks the group's constraints (tightened since it was written)
		// is not served (guardrails.go).
		if vs, err := policy.Violations(g, p); err != nil {
			return nil, nil, err
		} else if len(vs) > 0 {
			continue
		}
		if n := len(cfg.Repositories); n == 0 || !strings.EqualFold(cfg.Repositories[n-1], p.Repository()) {
			cfg.Repositories = append(cfg.Repositories, p.Repository())
		}
		wire, err := toWirePolicy(p)
		if err != nil {
			return nil, nil, err
		}
		cfg.Policies = append(cfg.Policies, wire)
	}
	cfg.Version, err = version(cfg)
	return cfg, topics, err
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
// oldest first. A write of a policy of those repositories (TopicPolicies) may add or drop
// jobs of it as well as a change of their job log. It returns those topics of its
// repositories too, which joined subs before the jobs were read.
func (s *Service) jobs(ctx context.Context, id string, fresh *store.Agent, subs ...*notify.Subscription) (*protocol.JobsSnapshot, []string, error) {
	a, keys, topics, err := s.owned(ctx, id, fresh, subs, TopicJobs, TopicPolicies)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.st.JobsServedBy(ctx, a.AgentGroup, a.Serves, keys, maxSnapshotJobs)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == maxSnapshotJobs {
		s.log.Warn("jobs snapshot truncated", "agent_id", a.ID, "jobs", len(rows))
	}
	snap := &protocol.JobsSnapshot{Jobs: make([]protocol.Job, 0, len(rows))}
	repos := map[[2]string]string{} // "owner/name" once per repository
	for i := range rows {
		j := &rows[i]
		labels := []string(j.Labels)
		if labels == nil {
			labels = []string{}
		}
		repo, ok := repos[[2]string{j.Owner, j.Repo}]
		if !ok {
			repo = j.Repository()
			repos[[2]string{j.Owner, j.Repo}] = repo
		}
		snap.Jobs = append(snap.Jobs, protocol.Job{
			ID: j.ID, Repository: repo, Policy: j.PolicyName, Labels: labels,
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
