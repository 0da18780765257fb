package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Names of the catch-up loops' progress rows.
const (
	ProgressRedeliver = "redeliver"
	ProgressReconcile = "reconcile"
)

// ProgressRedeliverApp names the redelivery progress of one GitHub App: each App has its
// own webhook and deliveries. ProgressRedeliver is the single-App row of earlier versions.
func ProgressRedeliverApp(appID int64) string { return fmt.Sprintf("%s/%d", ProgressRedeliver, appID) }

// CatchupProgress is where a catch-up loop stands (table catchup_progress; see migration
// 0014 for what each column means to each loop).
type CatchupProgress struct {
	Name       string `gorm:"primaryKey"`
	PageCursor string
	WalkUntil  *time.Time
	WalkTop    *time.Time
	LastGoodAt *time.Time
	RepoKey    string
	UpdatedAt  time.Time `gorm:"autoUpdateTime:false"`
}

// TableName names the table of catch-up progress.
func (CatchupProgress) TableName() string { return "catchup_progress" }

// GetProgress returns the progress of loop name; a zero one (Name set) when none was
// saved yet.
func (s *Store) GetProgress(ctx context.Context, name string) (CatchupProgress, error) {
	var p CatchupProgress
	err := s.conn(ctx).Where("name = ?", name).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return CatchupProgress{Name: name}, nil
	}
	if err != nil {
		return p, fmt.Errorf("catch-up progress %s: %w", name, err)
	}
	return p, nil
}

// SaveProgress writes p (insert or replace).
func (s *Store) SaveProgress(ctx context.Context, p CatchupProgress) error {
	p.UpdatedAt = s.now().UTC()
	for _, t := range []**time.Time{&p.WalkUntil, &p.WalkTop, &p.LastGoodAt} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"page_cursor", "walk_until", "walk_top", "last_good_at", "repo_key", "updated_at"}),
	}).Create(&p).Error
	if err != nil {
		return fmt.Errorf("save catch-up progress %s: %w", p.Name, err)
	}
	return nil
}

// RedeliveredDelivery records that Garo asked GitHub to redeliver a delivery GUID.
type RedeliveredDelivery struct {
	GUID      string `gorm:"primaryKey;column:guid"`
	AttemptID int64  // the failed attempt (GitHub's delivery id) last asked about
	Asks      int
	AskedAt   time.Time
}

// TableName names the table of redelivered GUIDs.
func (RedeliveredDelivery) TableName() string { return "redelivered_deliveries" }

// ClaimRedelivery decides, atomically across replicas, whether this caller asks GitHub to
// redeliver guid, whose newest attempt attemptID failed: yes for a GUID never asked for;
// for one asked before, yes only when attemptID is newer than the attempt last asked about
// (the redelivery failed too) and fewer than maxAsks were made. It returns the ask's
// number (1 for the first), or 0 when the caller must not ask.
func (s *Store) ClaimRedelivery(ctx context.Context, guid string, attemptID int64, maxAsks int) (int, error) {
	now := s.now().UTC()
	res := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&RedeliveredDelivery{GUID: guid, AttemptID: attemptID, Asks: 1, AskedAt: now})
	if res.Error != nil {
		return 0, fmt.Errorf("claim redelivery of %s: %w", guid, res.Error)
	}
	if res.RowsAffected == 1 {
		return 1, nil
	}
	res = s.conn(ctx).Model(&RedeliveredDelivery{}).
		Where("guid = ? AND asks < ? AND attempt_id < ?", guid, maxAsks, attemptID).
		Updates(map[string]any{"asks": gorm.Expr("asks + 1"), "attempt_id": attemptID, "asked_at": now})
	if res.Error != nil {
		return 0, fmt.Errorf("claim redelivery of %s: %w", guid, res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, nil
	}
	var r RedeliveredDelivery
	if err := s.conn(ctx).Where("guid = ?", guid).Take(&r).Error; err != nil {
		return 0, fmt.Errorf("claim redelivery of %s: %w", guid, err)
	}
	return r.Asks, nil
}

// PruneRedelivered forgets redelivery asks made before cutoff.
func (s *Store) PruneRedelivered(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.conn(ctx).Where("asked_at < ?", cutoff.UTC()).Delete(&RedeliveredDelivery{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune redelivered deliveries: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// PruneJobs deletes up to limit jobs that completed before cutoff, oldest first, and
// returns how many went. Callers repeat it to prune in bounded batches.
func (s *Store) PruneJobs(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	sub := s.conn(ctx).Model(&WorkflowJob{}).Select("id").
		Where("state = ? AND completed_at < ?", "completed", cutoff.UTC()).Order("completed_at").Limit(limit)
	res := s.conn(ctx).Where("id IN (?)", sub).Delete(&WorkflowJob{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune jobs: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// ActiveRepoKeys returns the repositories whose job log has open jobs (not completed) or
// changed since since: the ones reconciliation visits first.
func (s *Store) ActiveRepoKeys(ctx context.Context, since time.Time) (map[string]bool, error) {
	var keys []string
	err := s.conn(ctx).Model(&WorkflowJob{}).Distinct("repo_key").
		Where("state <> ? OR updated_at >= ?", "completed", since.UTC()).Pluck("repo_key", &keys).Error
	if err != nil {
		return nil, fmt.Errorf("active repositories: %w", err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// StaleJobs returns up to limit jobs of repoKey in state (and, unless status is "", whose
// GitHub status is status) that entered it before before (for in_progress: Garo saw it
// start before then; otherwise: Garo first heard of the job before then), the least
// recently checked first (never checked ones before all), for reconciliation to look up.
func (s *Store) StaleJobs(ctx context.Context, repoKey, state, status string, before time.Time, limit int) ([]WorkflowJob, error) {
	since := "received_at"
	if state == "in_progress" {
		since = "in_progress_at"
	}
	q := s.conn(ctx).Where("repo_key = ? AND state = ? AND "+since+" < ?", repoKey, state, before.UTC())
	if status != "" {
		q = q.Where("github_status = ?", status)
	}
	var out []WorkflowJob
	err := q.Order(clause.OrderBy{Expression: clause.Expr{SQL: "CASE WHEN checked_at IS NULL THEN 0 ELSE 1 END, checked_at, id"}}).
		Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("stale jobs of %s: %w", repoKey, err)
	}
	return out, nil
}

// MarkJobsChecked records that reconciliation asked GitHub about the jobs ids at at.
func (s *Store) MarkJobsChecked(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.conn(ctx).Model(&WorkflowJob{}).Where("id IN ?", ids).UpdateColumn("checked_at", at.UTC()).Error; err != nil {
		return fmt.Errorf("mark jobs checked: %w", err)
	}
	return nil
}
