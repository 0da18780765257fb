package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// RunnerUsage is one runner's life as quotas count it (table runner_usage, migration
// 0019): from the minting of its credentials (StartedAt) to the moment it no longer
// counts (EndedAt: it left its agent's inventory, or its record was dropped before any
// agent reported it). CPUMilli and MemoryBytes are what its policy requested when it
// was minted. EndedAt is nil while it lives.
type RunnerUsage struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	RepoKey     string
	Policy      string
	AgentGroup  string
	AgentID     string
	CPUMilli    int64
	MemoryBytes int64
	StartedAt   time.Time
	EndedAt     *time.Time
}

// TableName is runner_usage.
func (RunnerUsage) TableName() string { return "runner_usage" }

// StartUsage opens the usage of a runner just admitted. An open row of the same name
// (the name minted again) ends now.
func (s *Store) StartUsage(ctx context.Context, u RunnerUsage) error {
	if err := s.EndUsage(ctx, []string{u.Name}, u.StartedAt); err != nil {
		return err
	}
	u.ID = uuid.NewString()
	u.StartedAt = u.StartedAt.UTC()
	u.EndedAt = nil
	if err := s.conn(ctx).Create(&u).Error; err != nil {
		return fmt.Errorf("start usage of runner %s: %w", u.Name, classifyWrite(err))
	}
	return nil
}

// EndUsage ends at at the open usage of the runners names.
func (s *Store) EndUsage(ctx context.Context, names []string, at time.Time) error {
	for chunk := range slices.Chunk(names, chunkSize) {
		err := s.conn(ctx).Model(&RunnerUsage{}).Where("name IN ? AND ended_at IS NULL", chunk).
			Update("ended_at", at.UTC()).Error
		if err != nil {
			return fmt.Errorf("end usage of runners: %w", err)
		}
	}
	return nil
}

// EndUsageIfGone ends now the open usage of those of the runners names that no longer
// count against quotas (LiveRunners): called where a runner may stop counting (it left
// its agent's inventory, its record was dropped, its job completed).
func (s *Store) EndUsageIfGone(ctx context.Context, names []string) error {
	for chunk := range slices.Chunk(names, chunkSize) {
		err := s.conn(ctx).Exec(`UPDATE runner_usage SET ended_at = ? WHERE ended_at IS NULL AND name IN ?
			AND NOT EXISTS (SELECT 1 FROM minted_runners m LEFT JOIN runners r ON r.name = m.name
				WHERE m.name = runner_usage.name AND `+liveMinted+`)`,
			s.now(), chunk).Error
		if err != nil {
			return fmt.Errorf("end usage of runners: %w", err)
		}
	}
	return nil
}

// UsageBetween returns the usage rows that overlap [since, until), oldest first.
func (s *Store) UsageBetween(ctx context.Context, since, until time.Time) ([]RunnerUsage, error) {
	var out []RunnerUsage
	err := s.conn(ctx).Where("started_at < ? AND (ended_at IS NULL OR ended_at > ?)", until.UTC(), since.UTC()).
		Order("started_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("runner usage: %w", err)
	}
	return out, nil
}

// UsageEndedAfter returns up to limit usage rows that ended after (at, id), in the order
// they ended: what a meter has not counted yet.
func (s *Store) UsageEndedAfter(ctx context.Context, at time.Time, id string, limit int) ([]RunnerUsage, error) {
	var out []RunnerUsage
	err := s.conn(ctx).Where("ended_at IS NOT NULL AND (ended_at > ? OR (ended_at = ? AND id > ?))", at.UTC(), at.UTC(), id).
		Order("ended_at, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("ended runner usage: %w", err)
	}
	return out, nil
}

// OpenUsage returns the usage rows of the runners that still live.
func (s *Store) OpenUsage(ctx context.Context) ([]RunnerUsage, error) {
	var out []RunnerUsage
	if err := s.conn(ctx).Where("ended_at IS NULL").Order("started_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("open runner usage: %w", err)
	}
	return out, nil
}
