package store

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm/clause"
)

// The queries of a batch of webhook deliveries applied in one transaction (server/jobs
// group commit): each reads or writes the rows of the whole batch in one statement, so
// that a batch costs the same few round trips whatever its size.

// insertRows bounds the rows of one multi-row INSERT: a workflow_jobs row binds 38
// parameters, and SQLite allows 32,766 in one statement (PostgreSQL 65,535).
const insertRows = 200

// GetJobs returns those of the jobs ids that exist, by id; with forUpdate the rows are
// locked until the transaction ends (PostgreSQL).
func (s *Store) GetJobs(ctx context.Context, ids []int64, forUpdate bool) (map[int64]*WorkflowJob, error) {
	out := make(map[int64]*WorkflowJob, len(ids))
	for chunk := range slices.Chunk(ids, chunkSize) {
		q := s.conn(ctx)
		if forUpdate {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var rows []WorkflowJob
		if err := q.Where("id IN ?", chunk).Order("id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("get jobs: %w", err)
		}
		for i := range rows {
			out[rows[i].ID] = &rows[i]
		}
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

// KnownDeliveries returns which of guids were recorded before.
func (s *Store) KnownDeliveries(ctx context.Context, guids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for chunk := range slices.Chunk(guids, chunkSize) {
		var known []string
		if err := s.conn(ctx).Model(&WebhookDelivery{}).Where("guid IN ?", chunk).Pluck("guid", &known).Error; err != nil {
			return nil, fmt.Errorf("known deliveries: %w", err)
		}
		for _, g := range known {
			out[g] = true
		}
	}
	return out, nil
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
