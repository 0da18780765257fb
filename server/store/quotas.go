package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Quota kinds: what a quota's Subject names.
const (
	// QuotaOwnerPrefix caps the runners of the repositories within a lower-cased prefix
	// of "owner/name" (a team).
	QuotaOwnerPrefix = "owner_prefix"
	// QuotaAgentGroup caps the runners of an agent group's agents (a pool of hardware).
	QuotaAgentGroup = "agent_group"
)

// Quota caps what the runners within its subject may hold at once (table quotas,
// migration 0017). A nil limit is no limit.
type Quota struct {
	ID             string `gorm:"primaryKey"`
	Kind           string
	Subject        string
	MaxRunners     *int64
	MaxCPUMilli    *int64 `gorm:"column:max_cpu_milli"`
	MaxMemoryBytes *int64
	Description    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName is quotas (gorm's inflection would say "quota").
func (Quota) TableName() string { return "quotas" }

// ListQuotas returns every quota, by kind and subject.
func (s *Store) ListQuotas(ctx context.Context) ([]Quota, error) {
	var out []Quota
	if err := s.conn(ctx).Order("kind, subject").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list quotas: %w", err)
	}
	return out, nil
}

// GetQuota returns the quota id.
func (s *Store) GetQuota(ctx context.Context, id string) (*Quota, error) {
	var q Quota
	if err := s.conn(ctx).Where("id = ?", id).Take(&q).Error; err != nil {
		return nil, fmt.Errorf("get quota %s: %w", id, notFound(err))
	}
	return &q, nil
}

// LockQuotas returns every quota, by kind and subject, and on PostgreSQL locks their rows
// FOR UPDATE until the Tx ends: admissions of runners (server/quotas) on any replica take
// the same locks in the same order, so that two of them never both see the room that one
// runner takes. SQLite's single writer needs no lock.
func (s *Store) LockQuotas(ctx context.Context) ([]Quota, error) {
	q := s.conn(ctx).Order("kind, subject")
	if s.driver == DriverPostgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var out []Quota
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("lock quotas: %w", err)
	}
	return out, nil
}

// CreateQuota inserts q; ErrAlreadyExists when a quota of its kind and subject exists.
func (s *Store) CreateQuota(ctx context.Context, q *Quota) error {
	q.CreatedAt = s.now()
	q.UpdatedAt = q.CreatedAt
	if err := s.conn(ctx).Create(q).Error; err != nil {
		return fmt.Errorf("create quota %s %s: %w", q.Kind, q.Subject, classifyWrite(err))
	}
	return nil
}

// UpdateQuota writes the limits and description of q.
func (s *Store) UpdateQuota(ctx context.Context, q *Quota) error {
	q.UpdatedAt = s.now()
	res := s.conn(ctx).Model(&Quota{}).Where("id = ?", q.ID).Updates(map[string]any{
		"max_runners": q.MaxRunners, "max_cpu_milli": q.MaxCPUMilli, "max_memory_bytes": q.MaxMemoryBytes,
		"description": q.Description, "updated_at": q.UpdatedAt,
	})
	if res.Error != nil {
		return fmt.Errorf("update quota %s: %w", q.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("update quota %s: %w", q.ID, ErrNotFound)
	}
	return nil
}

// DeleteQuota removes the quota id.
func (s *Store) DeleteQuota(ctx context.Context, id string) error {
	res := s.conn(ctx).Where("id = ?", id).Delete(&Quota{})
	if res.Error != nil {
		return fmt.Errorf("delete quota %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete quota %s: %w", id, ErrNotFound)
	}
	return nil
}

// LiveRunner is a runner the server minted that still counts against quotas: not yet
// reported (it may be starting), or held in an agent's inventory. RunnerSpec is its
// policy's, for the CPU and memory it requests.
type LiveRunner struct {
	Name       string
	RepoKey    string
	Policy     string
	AgentGroup string
	RunnerSpec JSONText
	// State is what its agent last reported ("" while unreported).
	State string
}

// liveMinted is when the minted runner m (its runners row r, LEFT JOINed) counts
// against quotas: in an agent's inventory; not reported yet (it may be starting); or
// running a job GitHub gave it before any agent's heartbeat had it (MarkRan marked it
// reported: an ephemeral runner may live and go between two heartbeats).
const liveMinted = `(m.reported_at IS NULL OR r.name IS NOT NULL OR EXISTS (SELECT 1 FROM workflow_jobs j
			WHERE j.runner_name = m.name AND j.repo_key = m.repo_key AND j.state = 'in_progress'))`

// LiveRunners returns the runners that count against quotas, by name.
func (s *Store) LiveRunners(ctx context.Context) ([]LiveRunner, error) {
	var out []LiveRunner
	err := s.conn(ctx).Raw(`SELECT m.name AS name, m.repo_key AS repo_key, m.policy AS policy,
			a.agent_group AS agent_group, p.runner_spec AS runner_spec, COALESCE(r.state, '') AS state
		FROM minted_runners m
		JOIN agents a ON a.id = m.agent_id
		LEFT JOIN policies p ON p.repo_key = m.repo_key AND p.name = m.policy
		LEFT JOIN runners r ON r.name = m.name
		WHERE ` + liveMinted + `
		ORDER BY m.name`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("live runners: %w", err)
	}
	return out, nil
}

// QueuedJob is a queued job with what quota admission needs of its policy.
type QueuedJob struct {
	ID         int64
	RepoKey    string
	Policy     string
	ReceivedAt time.Time
	// AgentState and AgentLimit are its agent's view (JobMark).
	AgentState string
	AgentLimit string
	Priority   int
	MaxRunners int
	AgentGroup string
	RunnerSpec JSONText
}

// QueuedJobs returns the jobs waiting for a runner (state queued) of enabled policies,
// oldest first.
func (s *Store) QueuedJobs(ctx context.Context) ([]QueuedJob, error) {
	var out []QueuedJob
	err := s.conn(ctx).Raw(`SELECT j.id AS id, j.repo_key AS repo_key, j.policy_name AS policy, j.received_at AS received_at,
			j.agent_state AS agent_state, j.agent_limit AS agent_limit, p.priority AS priority,
			p.max_runners AS max_runners, p.agent_group AS agent_group, p.runner_spec AS runner_spec
		FROM workflow_jobs j
		JOIN policies p ON p.repo_key = j.repo_key AND p.name = j.policy_name
		WHERE j.state = 'queued' AND p.enabled
		ORDER BY j.received_at, j.id`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("queued jobs: %w", err)
	}
	for i := range out {
		out[i].ReceivedAt = out[i].ReceivedAt.UTC()
	}
	return out, nil
}
