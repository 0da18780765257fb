package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Agent states as stored. Active and draining are what the agent reports in heartbeats;
// offline means it unregistered (a later call brings it back).
const (
	AgentActive   = "active"
	AgentDraining = "draining"
	AgentOffline  = "offline"
)

// Agent is one registered garo-agent. Only the SHA-256 of its credential is stored.
// Inventory is a summary of its last heartbeat (JSON, see server/agents). Provider is the
// provider kind it reported (docker, kubernetes, memory); Serves the policy provider it
// serves (shared/protocol.PolicyProvider of Provider), which ownership and the
// portal's serving status compare with policies.provider.
type Agent struct {
	ID             string `gorm:"primaryKey"`
	Name           string
	AgentGroup     string
	CredentialHash string
	Version        string
	Provider       string
	Serves         string
	State          string
	RegisteredAt   time.Time
	LastSeenAt     time.Time
	RevokedAt      *time.Time
	Inventory      JSONText
	// ClientKeySHA256 is the hex SHA-256 of the public key of the client certificate the
	// agent registered with ("" when it presented none): its later calls must present
	// a certificate on the same key.
	ClientKeySHA256 string `gorm:"column:client_key_sha256"`
	// DrainRequestedAt is when an administrator asked the agent to drain (nil: not
	// drained), DrainRequestedBy who (an audit actor). Heartbeats answer drain=true while
	// it is set; ownership gives the agent nothing and moves what it has (server/agents).
	DrainRequestedAt *time.Time
	DrainRequestedBy string
	// Capacity is what the agent reported it may hold at once (migration 0019); nil is
	// no limit.
	CapacityMaxRunners  *int
	CapacityCPUMilli    *int64
	CapacityMemoryBytes *int64
	// RunnersRev moves with every write of the agent's runner rows (ReplaceRunnersOf).
	RunnersRev int64
}

// AgentCapacity is an agent's reported capacity; a nil field is no limit.
type AgentCapacity struct {
	MaxRunners  *int
	CPUMilli    *int64
	MemoryBytes *int64
}

// Draining reports whether a takes no new work: an administrator asked it to drain, or
// it reported so itself (it drains before it stops).
func (a *Agent) Draining() bool { return a.DrainRequestedAt != nil || a.State == AgentDraining }

// AgentFilter selects agents to list; empty fields do not filter.
type AgentFilter struct {
	Group string
}

// CreateAgent inserts a; its times are the caller's (the agent service's clock).
func (s *Store) CreateAgent(ctx context.Context, a *Agent) error {
	if err := s.conn(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("create agent %s: %w", a.ID, classifyWrite(err))
	}
	return nil
}

// GetAgent returns the agent id.
func (s *Store) GetAgent(ctx context.Context, id string) (*Agent, error) {
	var a Agent
	if err := s.conn(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("get agent %s: %w", id, notFound(err))
	}
	return &a, nil
}

// AgentByCredentialHash returns the agent whose credential hashes to hash, revoked or not.
func (s *Store) AgentByCredentialHash(ctx context.Context, hash string) (*Agent, error) {
	var a Agent
	if err := s.conn(ctx).Where("credential_hash = ?", hash).Take(&a).Error; err != nil {
		return nil, fmt.Errorf("find agent by credential: %w", notFound(err))
	}
	return &a, nil
}

// ListAgents returns the agents that f selects, oldest registration first.
func (s *Store) ListAgents(ctx context.Context, f AgentFilter) ([]Agent, error) {
	q := s.conn(ctx).Model(&Agent{})
	if f.Group != "" {
		q = q.Where("agent_group = ?", f.Group)
	}
	var out []Agent
	if err := q.Order("registered_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}

// LiveAgents returns the agents of group that may own repositories: not revoked, not
// unregistered, and seen after since. Ordered by id, the tie-breaker of ownership.
func (s *Store) LiveAgents(ctx context.Context, group string, since time.Time) ([]Agent, error) {
	var out []Agent
	err := s.conn(ctx).Where("agent_group = ? AND revoked_at IS NULL AND state <> ? AND last_seen_at > ?", group, AgentOffline, since.UTC()).
		Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list live agents of %s: %w", group, err)
	}
	return out, nil
}

// TouchAgent records that agent id was seen at, writing only when the stored time is
// older than at minus granularity, so that every request does not turn into a write.
func (s *Store) TouchAgent(ctx context.Context, id string, at time.Time, granularity time.Duration) error {
	err := s.conn(ctx).Model(&Agent{}).
		Where("id = ? AND last_seen_at < ?", id, at.UTC().Add(-granularity)).
		Update("last_seen_at", at.UTC()).Error
	if err != nil {
		return fmt.Errorf("touch agent %s: %w", id, err)
	}
	return nil
}

// AgentReport is what a heartbeat says about the agent itself. Provider and Serves
// empty leave them as they are.
type AgentReport struct {
	State, Version   string
	Provider, Serves string
	Inventory        JSONText
	At               time.Time
	// Capacity replaces what the agent reported before (zero value: no limit).
	Capacity AgentCapacity
}

// ReportAgent stores what a heartbeat says about the agent itself and returns the
// revision of its runner rows (Agent.RunnersRev), read in the same statement: inside a
// Tx it stays what it is until the Tx ends (see RunnersRev).
func (s *Store) ReportAgent(ctx context.Context, id string, r AgentReport) (int64, error) {
	// One statement and no reflection: every heartbeat writes it (issue 15).
	set := "state = ?, version = ?, inventory = ?, last_seen_at = ?, capacity_max_runners = ?, capacity_cpu_milli = ?, capacity_memory_bytes = ?"
	args := []any{r.State, r.Version, r.Inventory, r.At.UTC(), r.Capacity.MaxRunners, r.Capacity.CPUMilli, r.Capacity.MemoryBytes}
	if r.Provider != "" && r.Serves != "" {
		set += ", provider = ?, serves = ?"
		args = append(args, r.Provider, r.Serves)
	}
	var revs []int64
	err := s.conn(ctx).Raw("UPDATE agents SET "+set+" WHERE id = ? AND revoked_at IS NULL RETURNING runners_rev", append(args, id)...).
		Scan(&revs).Error
	if err != nil {
		return 0, fmt.Errorf("report agent %s: %w", id, err)
	}
	if len(revs) == 0 {
		return 0, fmt.Errorf("report agent %s: %w", id, ErrNotFound)
	}
	return revs[0], nil
}

// RunnersRev returns the revision of agent id's runner rows (Agent.RunnersRev). Read
// after ReportAgent in the same Tx, it stays what it is until the Tx ends: every writer
// of the agent's rows moves it, and the agent's row is locked (PostgreSQL) or the
// database is (SQLite).
func (s *Store) RunnersRev(ctx context.Context, id string) (int64, error) {
	var revs []int64
	if err := s.conn(ctx).Model(&Agent{}).Where("id = ?", id).Pluck("runners_rev", &revs).Error; err != nil {
		return 0, fmt.Errorf("runner revision of agent %s: %w", id, err)
	}
	if len(revs) == 0 {
		return 0, fmt.Errorf("runner revision of agent %s: %w", id, ErrNotFound)
	}
	return revs[0], nil
}

// bumpRunnersRev moves the runner revision of the agents ids (sorted: the same order of
// locks in every transaction).
func (s *Store) bumpRunnersRev(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.conn(ctx).Model(&Agent{}).Where("id IN ?", ids).
		UpdateColumn("runners_rev", gorm.Expr("runners_rev + 1")).Error
	if err != nil {
		return fmt.Errorf("move the runner revision of agents %v: %w", ids, err)
	}
	return nil
}

// SetAgentState sets the state of agent id (e.g. offline when it unregisters).
func (s *Store) SetAgentState(ctx context.Context, id, state string) error {
	if err := s.conn(ctx).Model(&Agent{}).Where("id = ?", id).Update("state", state).Error; err != nil {
		return fmt.Errorf("set state of agent %s: %w", id, err)
	}
	return nil
}

// RevokeAgent marks agent id revoked at at. It reports false when the agent was revoked
// already (nothing changes then).
func (s *Store) RevokeAgent(ctx context.Context, id string, at time.Time) (bool, error) {
	res := s.conn(ctx).Model(&Agent{}).Where("id = ? AND revoked_at IS NULL", id).
		Updates(map[string]any{"revoked_at": at.UTC(), "state": AgentOffline})
	if res.Error != nil {
		return false, fmt.Errorf("revoke agent %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DrainAgent records that by asked agent id to drain at at. It reports false when a drain
// was requested already (the first request's time and actor stay) or the agent is
// revoked: nothing changes then.
func (s *Store) DrainAgent(ctx context.Context, id string, at time.Time, by string) (bool, error) {
	res := s.conn(ctx).Model(&Agent{}).Where("id = ? AND revoked_at IS NULL AND drain_requested_at IS NULL", id).
		Updates(map[string]any{"drain_requested_at": at.UTC(), "drain_requested_by": by})
	if res.Error != nil {
		return false, fmt.Errorf("drain agent %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UndrainAgent lifts the drain request of agent id. It reports false when there was none.
func (s *Store) UndrainAgent(ctx context.Context, id string) (bool, error) {
	res := s.conn(ctx).Model(&Agent{}).Where("id = ? AND drain_requested_at IS NOT NULL", id).
		Updates(map[string]any{"drain_requested_at": nil, "drain_requested_by": ""})
	if res.Error != nil {
		return false, fmt.Errorf("undrain agent %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// LockGroup serialises ownership changes of group across transactions and server replicas
// until the transaction ends. On PostgreSQL it locks the group's row (NO KEY UPDATE, so
// policy writes that only check the foreign key are not held up); SQLite's single writer
// needs no lock.
func (s *Store) LockGroup(ctx context.Context, group string) error {
	if s.driver != DriverPostgres {
		return nil
	}
	var names []string
	err := s.conn(ctx).Model(&AgentGroup{}).Clauses(clause.Locking{Strength: "NO KEY UPDATE"}).
		Where("name = ?", group).Pluck("name", &names).Error
	if err != nil {
		return fmt.Errorf("lock agent group %s: %w", group, err)
	}
	return nil
}

// countLiveAgents counts the agents of group that are not revoked.
func (s *Store) countLiveAgents(ctx context.Context, group string) (int64, error) {
	var n int64
	if err := s.conn(ctx).Model(&Agent{}).Where("agent_group = ? AND revoked_at IS NULL", group).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count agents of %s: %w", group, err)
	}
	return n, nil
}
