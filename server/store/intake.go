package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// The queries of a batch of webhook deliveries applied in one transaction (server/jobs
// group commit): each reads or writes the rows of the whole batch in one statement, so
// that a batch costs the same few round trips whatever its size.

// insertRows bounds the rows of one multi-row INSERT: a workflow_jobs row binds 38
// parameters, and SQLite allows 32,766 in one statement (PostgreSQL 65,535).
const insertRows = 200

// GetJobs returns those of the jobs ids that exist, by id; with forUpdate the rows are
// locked until the transaction ends (PostgreSQL).
//
// On PostgreSQL the statement is planned with its parameters at each execution
// (pgx.QueryExecModeExec): a prepared "id IN (...)" or "id = ANY($1)" keeps the generic
// plan it got while workflow_jobs was young, a sequential scan, until the first ANALYZE,
// and that scan grows with the table (2.5 ms at 8,000 rows, issue 15). A single "id = $1"
// is an index scan in any plan, but one statement per job is what batching saves.
func (s *Store) GetJobs(ctx context.Context, ids []int64, forUpdate bool) (map[int64]*WorkflowJob, error) {
	out := make(map[int64]*WorkflowJob, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if s.driver != DriverPostgres {
		for chunk := range slices.Chunk(ids, chunkSize) {
			var rows []WorkflowJob
			if err := s.conn(ctx).Where("id IN ?", chunk).Find(&rows).Error; err != nil {
				return nil, fmt.Errorf("get jobs: %w", err)
			}
			for i := range rows {
				out[rows[i].ID] = &rows[i]
			}
		}
		return out, nil
	}
	q := "SELECT * FROM workflow_jobs WHERE id = ANY($1) ORDER BY id"
	if forUpdate {
		q += " FOR UPDATE"
	}
	db := s.conn(ctx)
	rows, err := db.Statement.ConnPool.QueryContext(ctx, q, pgx.QueryExecModeExec, ids)
	if err != nil {
		return nil, fmt.Errorf("get jobs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var j WorkflowJob
		if err := db.ScanRows(rows, &j); err != nil {
			return nil, fmt.Errorf("get jobs: %w", err)
		}
		out[j.ID] = &j
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get jobs: %w", err)
	}
	return out, nil
}

// jobColumns are the columns of workflow_jobs in the order jobValues gives them (a test
// checks them against the model's).
var jobColumns = []string{
	"id", "run_id", "owner", "repo", "repo_key", "name", "workflow_name", "labels", "github_status", "conclusion",
	"state", "policy_id", "policy_name", "unmatched_reason", "runner_name", "runner_id", "html_url", "source",
	"github_created_at", "received_at", "matched_at", "runner_requested_at", "runner_online_at", "in_progress_at",
	"completed_at", "updated_at", "agent_state", "queue_position", "agent_id", "agent_reason", "agent_retry_at",
	"agent_limit", "checked_at",
}

// jobValues appends the values of j's columns (jobColumns) to args.
func jobValues(args []any, j *WorkflowJob) []any {
	return append(args,
		j.ID, j.RunID, j.Owner, j.Repo, j.RepoKey, j.Name, j.WorkflowName, j.Labels, j.GitHubStatus, j.Conclusion,
		j.State, j.PolicyID, j.PolicyName, j.UnmatchedReason, j.RunnerName, j.RunnerID, j.HTMLURL, j.Source,
		j.GitHubCreatedAt, j.ReceivedAt, j.MatchedAt, j.RunnerRequestedAt, j.RunnerOnlineAt, j.InProgressAt,
		j.CompletedAt, j.UpdatedAt, j.AgentState, j.QueuePosition, j.AgentID, j.AgentReason, j.AgentRetryAt,
		j.AgentLimit, j.CheckedAt)
}

// CreateJobs inserts jobs, in as few statements as insertRows allows: a plain multi-row
// INSERT, which spares the batch GORM's walk of the model for every row. A job whose id
// exists fails them all with ErrAlreadyExists (and, on PostgreSQL, the transaction).
func (s *Store) CreateJobs(ctx context.Context, jobs []*WorkflowJob) error {
	now := s.now()
	for _, j := range jobs {
		j.UpdatedAt = now
	}
	for chunk := range slices.Chunk(jobs, insertRows) {
		args := make([]any, 0, len(chunk)*len(jobColumns))
		for _, j := range chunk {
			args = jobValues(args, j)
		}
		if err := s.insertRows(ctx, "workflow_jobs", jobColumns, len(chunk), args); err != nil {
			return fmt.Errorf("create %d jobs: %w", len(chunk), classifyWrite(err))
		}
	}
	return nil
}

// insertRows runs INSERT INTO table (columns) VALUES (...), ... for rows rows whose values
// are args, row after row.
func (s *Store) insertRows(ctx context.Context, table string, columns []string, rows int, args []any) error {
	var b strings.Builder
	b.Grow(64 + len(columns)*20 + len(args)*5)
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(columns, ", "))
	b.WriteString(") VALUES ")
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range columns {
			if c > 0 {
				b.WriteString(", ")
			}
			n++
			if s.driver == DriverPostgres {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	db := s.conn(ctx)
	_, err := db.Statement.ConnPool.ExecContext(ctx, b.String(), args...)
	if err != nil {
		// What GORM's TranslateError does for its own statements: a unique violation is
		// gorm.ErrDuplicatedKey, which classifyWrite knows.
		if t, ok := db.Dialector.(gorm.ErrorTranslator); ok {
			err = t.Translate(err)
		}
	}
	return err
}

// deliveryColumns are the columns of webhook_deliveries, in the order RecordDeliveries
// gives them.
var deliveryColumns = []string{"guid", "event", "action", "job_id", "outcome", "received_at"}

// RecordDeliveries inserts ds, in as few statements as insertRows allows. A GUID seen
// before fails them all with ErrAlreadyExists (and, on PostgreSQL, the transaction).
func (s *Store) RecordDeliveries(ctx context.Context, ds []WebhookDelivery) error {
	now := s.now()
	for chunk := range slices.Chunk(ds, insertRows) {
		args := make([]any, 0, len(chunk)*len(deliveryColumns))
		for i := range chunk {
			d := &chunk[i]
			d.ReceivedAt = now
			args = append(args, d.GUID, d.Event, d.Action, d.JobID, d.Outcome, d.ReceivedAt)
		}
		if err := s.insertRows(ctx, "webhook_deliveries", deliveryColumns, len(chunk), args); err != nil {
			return fmt.Errorf("record %d deliveries: %w", len(chunk), classifyWrite(err))
		}
	}
	return nil
}

// EnabledPoliciesOf returns the enabled policies of the repositories repoKeys, by
// repository, each repository's ordered by name.
func (s *Store) EnabledPoliciesOf(ctx context.Context, repoKeys []string) (map[string][]Policy, error) {
	out := make(map[string][]Policy, len(repoKeys))
	for chunk := range slices.Chunk(repoKeys, chunkSize) {
		var rows []Policy
		if err := s.conn(ctx).Where("repo_key IN ? AND enabled = ?", chunk, true).Order("repo_key, name").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("enabled policies of repositories: %w", err)
		}
		for _, p := range rows {
			out[p.RepoKey] = append(out[p.RepoKey], p)
		}
	}
	return out, nil
}
