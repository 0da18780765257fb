package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm/clause"
)

// MintedRunner is a runner the server minted credentials for that no agent has reported
// in a heartbeat yet (table minted_runners). RunnerID is GitHub's id, 0 for a runner
// registered with a registration token (found by name).
type MintedRunner struct {
	Name     string `gorm:"primaryKey"`
	RepoKey  string
	Policy   string
	AgentID  string
	RunnerID int64
	MintedAt time.Time
}

// RecordMinted remembers a runner whose credentials were just minted; a second minting
// under the same name replaces the row.
func (s *Store) RecordMinted(ctx context.Context, m MintedRunner) error {
	m.MintedAt = m.MintedAt.UTC()
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"repo_key", "policy", "agent_id", "runner_id", "minted_at"}),
	}).Create(&m).Error
	if err != nil {
		return fmt.Errorf("record minted runner %s: %w", m.Name, classifyWrite(err))
	}
	return nil
}

// ForgetMinted drops the rows of names: those runners were reported or removed.
func (s *Store) ForgetMinted(ctx context.Context, names []string) error {
	for chunk := range slices.Chunk(names, chunkSize) {
		if err := s.conn(ctx).Where("name IN ?", chunk).Delete(&MintedRunner{}).Error; err != nil {
			return fmt.Errorf("forget minted runners: %w", err)
		}
	}
	return nil
}

// ForgetReported drops the rows of the runners agentID reported last with an instance
// (a provider id): those are its to remove now, also after a restart, which finds them in
// its provider. A runner reported while still being created (no instance yet) stays: an
// agent that dies before creating it would not know it after a restart.
func (s *Store) ForgetReported(ctx context.Context, agentID string) error {
	err := s.conn(ctx).Exec("DELETE FROM minted_runners WHERE name IN (SELECT name FROM runners WHERE agent_id = ? AND provider_id <> '')", agentID).Error
	if err != nil {
		return fmt.Errorf("forget minted runners reported by agent %s: %w", agentID, err)
	}
	return nil
}

// UnreportedMinted returns up to limit runners minted before cutoff that are still not
// reported, oldest first.
func (s *Store) UnreportedMinted(ctx context.Context, cutoff time.Time, limit int) ([]MintedRunner, error) {
	var out []MintedRunner
	err := s.conn(ctx).Where("minted_at < ?", cutoff.UTC()).Order("minted_at, name").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("unreported minted runners: %w", err)
	}
	return out, nil
}
