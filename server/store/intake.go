package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
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

// CreateJobs inserts jobs, in as few statements as insertRows allows. A job whose id
// exists fails them all with ErrAlreadyExists (and, on PostgreSQL, the transaction).
func (s *Store) CreateJobs(ctx context.Context, jobs []*WorkflowJob) error {
	now := s.now()
	for _, j := range jobs {
		j.UpdatedAt = now
	}
	for chunk := range slices.Chunk(jobs, insertRows) {
		if err := s.conn(ctx).Create(chunk).Error; err != nil {
			return fmt.Errorf("create %d jobs: %w", len(chunk), classifyWrite(err))
		}
	}
	return nil
}

// RecordDeliveries inserts ds, in as few statements as insertRows allows. A GUID seen
// before fails them all with ErrAlreadyExists (and, on PostgreSQL, the transaction).
func (s *Store) RecordDeliveries(ctx context.Context, ds []WebhookDelivery) error {
	now := s.now()
	for i := range ds {
		ds[i].ReceivedAt = now
	}
	for chunk := range slices.Chunk(ds, insertRows) {
		if err := s.conn(ctx).Create(chunk).Error; err != nil {
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
