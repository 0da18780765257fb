// Package agents is the server side of the agent protocol (shared/protocol) and the
// portal's view of agents: registration with one-time tokens, credentials stored as
// hashes, heartbeats with the runner inventory and per-job states, config and jobs
// long-polls, runner credentials and removal on an agent's behalf, and repository
// ownership.
//
// Providers: an agent reports its provider kind at registration and in heartbeats, and
// serves only the policies of that provider (protocol.PolicyProvider: memory stands in
// for docker; an agent naming none is taken for docker), kept as agents.serves.
//
// Ownership: every repository with an enabled policy of group G and provider P is served,
// for P, by exactly one live agent of G that serves P, recorded as a lease in
// repository_ownership (one row per repository, group and provider: the primary key makes
// two owners impossible, and a repository with a docker and a kubernetes policy in G has
// one owner of each; a repository stays the unit of ownership within a provider, so one
// agent serves all its policies of that provider and their runners' GitHub registrations
// never split). Heartbeats renew the agent's leases. An agent silent for longer than the
// offline interval keeps its rows, but their leases run out; the next heartbeat or poll of
// any live agent of G then hands them, and repositories nobody owns yet, to the live agent
// of G serving P with the fewest repositories (ties by id), keeping a repository with its
// previous owner when that agent is live again. An agent that comes back with another
// provider gives up its rows of the old one at once. A policy whose provider no live agent
// of G serves stays unowned; the portal shows it (ExplainPolicies, ExplainJobs).
// Reassignment runs in one transaction that first locks the group's row (PostgreSQL), so
// concurrent polls on several replicas serialise; each move is a compare-and-swap on the
// row as well. Revoked and unregistered agents give their repositories up at once.
//
// Draining: an agent that an administrator drained (Drain; heartbeats then answer
// drain=true) or that reports draining itself is given no repository, and hands each of
// its repositories over to the candidate with the fewest as soon as it holds no runner of
// it that may still take or run a job (store.WorkingRunnerStates): busy runners finish on
// it first, so that one policy never has runners created by two agents at once. With no
// candidate, it keeps them. Undrained, it takes repositories again as any live agent.
package agents

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/githubapp"
	"github.com/garo-dev/garo/server/notify"
	"github.com/garo-dev/garo/server/runners"
	"github.com/garo-dev/garo/server/store"
	"github.com/garo-dev/garo/shared/protocol"
)

// Defaults of Config.
const (
	DefaultHeartbeat = 15 * time.Second
	DefaultLongPoll  = 30 * time.Second
	DefaultOffline   = 3 * time.Minute
)

const (
	// staleHeartbeats: an agent that missed this many heartbeats is stale.
	staleHeartbeats = 3
	// maxSnapshotJobs bounds a jobs snapshot.
	maxSnapshotJobs = 5000
)

// Sentinel errors: the protocol's (shared/protocol), which the API answers with their
// status and code (protocol.Answer) and the agent's client turns back into them.
var (
	// ErrUnauthenticated: no agent credential, an unknown one, or a revoked agent (401).
	ErrUnauthenticated = protocol.ErrUnauthorized
	// ErrNotOwner: the agent does not serve the repository it named (403 not_owner).
	ErrNotOwner = protocol.ErrNotOwner
)

// Config tunes the service.
type Config struct {
	// Heartbeat is how often agents send a heartbeat; three missed make an agent stale.
	Heartbeat time.Duration
	// LongPoll is the longest (and default) hold of a config or jobs poll.
	LongPoll time.Duration
	// Offline is the silence after which an agent's repositories move to another agent.
	Offline time.Duration
	// GitHubURL is GitHub's web root for the repository URL of registration-token
	// credentials, e.g. https://ghe.example.com/. Empty means https://github.com/.
	GitHubURL string
	// Unreported is how long a runner whose credentials were minted may stay unreported
	// by every agent before the server removes it from GitHub (SweepUnreported); 0 turns
	// the sweep off.
	Unreported time.Duration
	// MaxWait is scheduling.max_wait, handed to agents in their config (protocol.Scheduling)
	// and used by quota admission (server/quotas).
	MaxWait time.Duration
	// Now is the clock; nil means the wall clock. Leases, liveness and token expiry use it;
	// the holds of long-polls use real timers.
	Now func() time.Time
}

// RunnerMinter is the part of server/runners the service needs.
type RunnerMinter interface {
	Credentials(ctx context.Context, p *store.Policy, runnerName string) (*runners.Credentials, error)
	Remove(ctx context.Context, owner, repo string, runnerID int64) error
	FindByName(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error)
	Get(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error)
	// The same at organisation level (policies with registration_level organization).
	RemoveOrg(ctx context.Context, owner, repo string, runnerID int64) error
	FindByNameOrg(ctx context.Context, owner, repo, name string) (*githubapp.Runner, error)
	GetOrg(ctx context.Context, owner, repo string, id int64) (*githubapp.Runner, error)
}

// Service runs the agent use cases.
type Service struct {
	st       *store.Store
	cfg      Config
	notifier notify.Notifier
	runners  RunnerMinter
	log      *slog.Logger
	stop     chan struct{} // closed by StopPolls
	stopOnce sync.Once

	waitingConfig, waitingJobs atomic.Int64
	waiting                    *prometheus.GaugeVec
	heartbeats                 prometheus.Counter
	credentials                *prometheus.CounterVec
	swept                      *prometheus.CounterVec
	ignoredEntries             prometheus.Counter
	violating                  *prometheus.GaugeVec
	violatingMu                sync.Mutex
	violatingN                 map[string]int // the gauge's values, by group
	inventories                *inventories
	snapshots                  *snapshots // jobs snapshots (WaitJobs)
	configs                    *snapshots // configs (WaitConfig)
	settledMu                  sync.Mutex
	settledAt                  map[string]time.Time // group → when it was last found settled (settle)
	settleGen                  map[string]uint64    // group → how often its memo was ended (settle's flights)
	settleFlights              singleflight.Group   // one check of a group at a time per generation (settle)
	settlers                   groupSettlers        // settle a group on its settle topic (hold)
	polls                      *pollMetrics
}

// New returns the service on st. rs mints and removes runners; without GitHub credentials
// it is server/runners on githubapp.NotConfigured, whose calls answer
// githubapp.ErrNotConfigured. n nil means an in-process notifier; reg may be nil.
func New(st *store.Store, cfg Config, n notify.Notifier, rs RunnerMinter, log *slog.Logger, reg prometheus.Registerer) *Service {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.LongPoll <= 0 {
		cfg.LongPoll = DefaultLongPoll
	}
	if cfg.Offline <= 0 {
		cfg.Offline = DefaultOffline
	}
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = "https://github.com/"
	}
	if !strings.HasSuffix(cfg.GitHubURL, "/") {
		cfg.GitHubURL += "/"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if n == nil {
		n = notify.NewLocal()
	}
	s := &Service{
		st: st, cfg: cfg, notifier: n, runners: rs, log: log, stop: make(chan struct{}), violatingN: map[string]int{},
		inventories: newInventories(cfg.Offline), snapshots: newSnapshots(), configs: newSnapshots(), settledAt: map[string]time.Time{}, settleGen: map[string]uint64{}, polls: newPollMetrics(),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "garo_agent_polls_waiting",
			Help: "Config and jobs long-polls of agents held by this server, by kind.",
		}, []string{"kind"}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garo_agent_heartbeats_total",
			Help: "Agent heartbeats accepted.",
		}),
		credentials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_agent_runner_credentials_total",
			Help: "Runner credentials asked for by agents, by outcome (minted, refused, failed, quota_full).",
		}, []string{"outcome"}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garo_agent_unreported_runners_total",
			Help: "Runners minted but never reported by an agent, by what the sweep did (removed, gone, busy, failed).",
		}, []string{"outcome"}),
	}
	s.ignoredEntries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "garo_agent_heartbeat_entries_ignored_total",
		Help: "Malformed runner and job entries of heartbeats that were dropped (the rest was taken).",
	})
	s.violating = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "garo_policies_violating_constraints",
		Help: "Policies that break the constraints of their agent group (tightened after they were written), served by no agent, by group; counted at the first config answer to an agent of the group and when the group or one of its policies changes.",
	}, []string{"agent_group"})
	if reg != nil {
		reg.MustRegister(s.waiting, s.heartbeats, s.credentials, s.swept, s.ignoredEntries, s.violating, s.polls.looksBy, s.polls.wakeupsBy, s.polls.settlesC, s.polls.checksC)
	}
	return s
}

// Intervals are the intervals the server hands to agents.
func (s *Service) Intervals() protocol.Intervals {
	return protocol.Intervals{
		Heartbeat: protocol.Duration(s.cfg.Heartbeat),
		LongPoll:  protocol.Duration(s.cfg.LongPoll),
		Offline:   protocol.Duration(s.cfg.Offline),
	}
}

// StopPolls answers every held poll, now and from now on, at once with "unchanged", so
// that a server shutting down does not wait for them; agents poll again elsewhere.
func (s *Service) StopPolls() { s.stopOnce.Do(func() { close(s.stop) }) }

// LongPoll is the longest hold of a poll.
func (s *Service) LongPoll() time.Duration { return s.cfg.LongPoll }

// Waiting counts the polls of kind ("config" or "jobs") held right now.
func (s *Service) Waiting(kind string) int64 {
	if kind == "jobs" {
		return s.waitingJobs.Load()
	}
	return s.waitingConfig.Load()
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// status computes the portal status of a at now.
func (s *Service) status(a *store.Agent, now time.Time) string {
	silent := now.Sub(a.LastSeenAt)
	switch {
	case a.RevokedAt != nil:
		return portalapi.AgentStatusRevoked
	case a.State == store.AgentOffline || silent > s.cfg.Offline:
		return portalapi.AgentStatusOffline
	case silent > staleHeartbeats*s.cfg.Heartbeat:
		return portalapi.AgentStatusStale
	}
	return portalapi.AgentStatusActive
}

// publish wakes the held polls of topics. A group's topic ends its settle memo, and so does
// its settle topic unless this server settles the group on it anyway (watchSettle): what
// changed may need its ownership settled again.
func (s *Service) publish(ctx context.Context, topics ...string) {
	for _, t := range topics {
		if g, ok := strings.CutPrefix(t, TopicGroup("")); ok {
			s.forgetSettled(g)
		} else if g, ok := strings.CutPrefix(t, TopicSettle("")); ok {
			s.forgetSettledUnwatched(g)
		}
	}
	if len(topics) > 0 {
		s.notifier.Publish(ctx, topics...)
	}
}
