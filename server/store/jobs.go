package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// WorkflowJob is one GitHub Actions job in Garo's durable log. ID is GitHub's job id.
// GitHubStatus is what GitHub last said (queued, waiting, in_progress, completed); State
// is Garo's view (see server/jobs). The *At columns record when Garo saw each step, so that
// latency can be measured end to end.
type WorkflowJob struct {
	ID                int64 `gorm:"primaryKey;autoIncrement:false"`
	RunID             int64
	Owner             string
	Repo              string
	RepoKey           string
	Name              string
	WorkflowName      string
	Labels            StringList
	GitHubStatus      string `gorm:"column:github_status"`
	Conclusion        string
	State             string
	PolicyID          string
	PolicyName        string
	UnmatchedReason   string
	RunnerName        string
	RunnerID          int64
	HTMLURL           string `gorm:"column:html_url"`
	Source            string
	GitHubCreatedAt   *time.Time `gorm:"column:github_created_at"`
	ReceivedAt        time.Time
	MatchedAt         *time.Time
	RunnerRequestedAt *time.Time
	RunnerOnlineAt    *time.Time
	InProgressAt      *time.Time
	CompletedAt       *time.Time
	UpdatedAt         time.Time
	// AgentState and QueuePosition are the serving agent's view, from its heartbeats:
	// waiting_for_capacity (with its 1-based place in the policy's queue),
	// runner_requested, or backing_off (AgentReason says why, AgentRetryAt when the
	// agent tries again). AgentID is the agent that reported them.
	AgentState    string
	QueuePosition int
	AgentID       string
	AgentReason   string
	AgentRetryAt  *time.Time
	// AgentLimit goes with waiting_for_capacity: the limit that holds the job in its
	// agent, max_runners (its policy's) or agent_capacity (migration 0019).
	AgentLimit string
	// CheckedAt is when reconciliation last asked GitHub about the job.
	CheckedAt *time.Time
}

// Repository returns "owner/name" as GitHub spelled it.
func (j *WorkflowJob) Repository() string { return j.Owner + "/" + j.Repo }

// JobFilter selects jobs to list, newest (highest GitHub id) first.
type JobFilter struct {
	RepoKey       string
	OwnerKey      string
	State         string
	PolicyName    string
	Since         time.Time // received at or after
	OwnerPrefixes []string
	BeforeID      int64 // cursor
	Limit         int
}

// GetJob returns the job id; with forUpdate the row is locked until the transaction ends
// (PostgreSQL).
func (s *Store) GetJob(ctx context.Context, id int64, forUpdate bool) (*WorkflowJob, error) {
	q := s.conn(ctx)
	if forUpdate {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var j WorkflowJob
	if err := q.Where("id = ?", id).Take(&j).Error; err != nil {
		return nil, fmt.Errorf("get job %d: %w", id, notFound(err))
	}
	return &j, nil
}

// RanJobToSuccess reports whether the job log holds a job of repository repoKey that
// runner name ran (its in_progress or completed delivery named the runner) and that
// completed with conclusion success: the runner finished it itself. A runner lost in
// the middle of its job leaves it completed with failure.
func (s *Store) RanJobToSuccess(ctx context.Context, repoKey, name string) (bool, error) {
	var n int64
	err := s.conn(ctx).Raw(`SELECT COUNT(*) FROM (SELECT 1 FROM workflow_jobs
		WHERE runner_name = ? AND repo_key = ? AND state = 'completed' AND conclusion = 'success' LIMIT 1) AS j`, name, repoKey).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("successful job of runner %s of %s: %w", name, repoKey, err)
	}
	return n > 0, nil
}

// CreateJob inserts j; a job with the same id gives ErrAlreadyExists.
func (s *Store) CreateJob(ctx context.Context, j *WorkflowJob) error {
	j.UpdatedAt = s.now()
	if err := s.conn(ctx).Create(j).Error; err != nil {
		return fmt.Errorf("create job %d: %w", j.ID, classifyWrite(err))
	}
	return nil
}

// SaveJob writes every column of j.
func (s *Store) SaveJob(ctx context.Context, j *WorkflowJob) error {
	j.UpdatedAt = s.now()
	res := s.conn(ctx).Model(&WorkflowJob{}).Where("id = ?", j.ID).Select("*").Omit("id").UpdateColumns(j)
	if res.Error != nil {
		return fmt.Errorf("save job %d: %w", j.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("save job %d: %w", j.ID, ErrNotFound)
	}
	return nil
}

// ListJobs returns up to f.Limit jobs, newest first, and whether more follow.
func (s *Store) ListJobs(ctx context.Context, f JobFilter) ([]WorkflowJob, bool, error) {
	q := s.conn(ctx).Model(&WorkflowJob{})
	if f.RepoKey != "" {
		q = q.Where("repo_key = ?", f.RepoKey)
	}
	if f.OwnerKey != "" {
		q = q.Where("repo_key LIKE ? ESCAPE '\\'", likePrefix(f.OwnerKey+"/"))
	}
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.PolicyName != "" {
		q = q.Where("policy_name = ?", f.PolicyName)
	}
	if !f.Since.IsZero() {
		q = q.Where("received_at >= ?", f.Since.UTC())
	}
	if len(f.OwnerPrefixes) > 0 {
		q = q.Where(prefixCondition(s.db, f.OwnerPrefixes))
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []WorkflowJob
	if err := q.Order("id DESC").Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, false, fmt.Errorf("list jobs: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// CountJobsByState counts the jobs of each state (for metrics and the portal).
func (s *Store) CountJobsByState(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := s.conn(ctx).Model(&WorkflowJob{}).Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// WebhookDelivery is one X-GitHub-Delivery Garo has processed.
type WebhookDelivery struct {
	GUID       string `gorm:"primaryKey;column:guid"`
	Event      string
	Action     string
	JobID      int64
	Outcome    string
	ReceivedAt time.Time
}

// RecordDelivery inserts d; a GUID seen before gives ErrAlreadyExists. Inside the
// transaction that applies the delivery, this is what makes a redelivery change nothing.
func (s *Store) RecordDelivery(ctx context.Context, d *WebhookDelivery) error {
	d.ReceivedAt = s.now()
	if err := s.conn(ctx).Create(d).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("delivery %s: %w", d.GUID, ErrAlreadyExists)
		}
		return fmt.Errorf("record delivery %s: %w", d.GUID, err)
	}
	return nil
}

// GetDelivery returns the delivery guid.
func (s *Store) GetDelivery(ctx context.Context, guid string) (*WebhookDelivery, error) {
	var d WebhookDelivery
	if err := s.conn(ctx).Where("guid = ?", guid).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("get delivery %s: %w", guid, notFound(err))
	}
	return &d, nil
}

// PruneDeliveries forgets deliveries received before cutoff (GitHub redelivers only
// recent ones, so old GUIDs cannot come back).
func (s *Store) PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.conn(ctx).Where("received_at < ?", cutoff.UTC()).Delete(&WebhookDelivery{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune deliveries: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// RepoRef names a repository as GitHub spells it, with its lower-cased key.
type RepoRef struct {
	Owner, Repo, RepoKey string
}

// ReposWithEnabledPolicies lists the repositories that have at least one enabled policy,
// for reconciliation with GitHub.
func (s *Store) ReposWithEnabledPolicies(ctx context.Context) ([]RepoRef, error) {
	var out []RepoRef
	err := s.conn(ctx).Model(&Policy{}).Select("MIN(owner) AS owner, MIN(repo) AS repo, repo_key").
		Where("enabled = ?", true).Group("repo_key").Order("repo_key").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list repositories with policies: %w", err)
	}
	return out, nil
}
