package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// MintedRunner is a runner the server minted credentials for (table minted_runners): the
// server's own record of which agent it minted the runner for, in which repository, with
// which GitHub id. RunnerID is 0 for a runner registered with a registration token (found
// by name). ReportedAt is nil until an agent reports the runner with its instance: until
// then the runner is unreported, and swept from GitHub after a while. The record stays
// after that, as the proof of the runner's ownership that claims and removals are checked
// against, until the runner is removed through the server or has long ended.
type MintedRunner struct {
	Name       string `gorm:"primaryKey"`
	RepoKey    string
	Policy     string
	AgentID    string
	RunnerID   int64
	MintedAt   time.Time
	ReportedAt *time.Time
	// RegistrationLevel is where the runner registered: LevelRepository or
	// LevelOrganization, "" for records older than migration 0020.
	RegistrationLevel string
	// MintAttempts counts the requests to GitHub for this name's credentials since the
	// last one GitHub answered (NoteMintAttempt; migration 0026): the reservation of a
	// name counts its first, RecordMinted of a minted runner starts again at 0.
	MintAttempts int
}

// RecordMinted remembers a runner whose credentials were just minted (or reserves the
// name before they are); a second minting under the same name replaces the row (and
// makes it unreported again, its MintAttempts as m says).
func (s *Store) RecordMinted(ctx context.Context, m MintedRunner) error {
	m.MintedAt = m.MintedAt.UTC()
	m.ReportedAt = nil
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"repo_key", "policy", "agent_id", "runner_id", "minted_at", "reported_at", "registration_level", "mint_attempts"}),
	}).Create(&m).Error
	if err != nil {
		return fmt.Errorf("record minted runner %s: %w", m.Name, classifyWrite(err))
	}
	return nil
}

// NoteMintAttempt counts one more request to GitHub for the credentials of runner name
// and reports whether it was within limit: false when limit requests were counted since the
// last one GitHub answered, or the server has no record of name (nothing is counted then).
func (s *Store) NoteMintAttempt(ctx context.Context, name string, limit int) (bool, error) {
	res := s.conn(ctx).Model(&MintedRunner{}).Where("name = ? AND mint_attempts < ?", name, limit).
		UpdateColumn("mint_attempts", gorm.Expr("mint_attempts + 1"))
	if res.Error != nil {
		return false, fmt.Errorf("count a mint of runner %s: %w", name, classifyWrite(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// GetMinted returns the record of the runner name, ErrNotFound when the server minted
// nothing under that name (or forgot it).
func (s *Store) GetMinted(ctx context.Context, name string) (*MintedRunner, error) {
	var m MintedRunner
	if err := s.conn(ctx).Where("name = ?", name).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("minted runner %s: %w", name, notFound(err))
	}
	return &m, nil
}

// MintedFor returns the records of the runners names minted for agentID, by name (those
// the server minted nothing for under that name for agentID are missing).
func (s *Store) MintedFor(ctx context.Context, agentID string, names []string) (map[string]MintedRunner, error) {
	out := make(map[string]MintedRunner, len(names))
	for chunk := range slices.Chunk(names, chunkSize) {
		var rows []MintedRunner
		if err := s.conn(ctx).Where("agent_id = ? AND name IN ?", agentID, chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("runners minted for agent %s: %w", agentID, err)
		}
		for _, m := range rows {
			out[m.Name] = m
		}
	}
	return out, nil
}

// ForgetMinted drops the rows of names: those runners were removed from GitHub.
func (s *Store) ForgetMinted(ctx context.Context, names []string) error {
	for chunk := range slices.Chunk(names, chunkSize) {
		if err := s.conn(ctx).Where("name IN ?", chunk).Delete(&MintedRunner{}).Error; err != nil {
			return fmt.Errorf("forget minted runners: %w", err)
		}
	}
	return s.EndUsageIfGone(ctx, names)
}

// MarkReported marks reported the rows of the runners agentID reported last with an
// instance (a provider id) in the repository they were minted for: those are its to
// remove now, also after a restart, which finds them in its provider, and the sweep of
// unreported runners leaves them. A runner reported while still being created (no
// instance yet) stays unreported: an agent that dies before creating it would not know it
// after a restart. Records minted for agents of other groups are left alone.
func (s *Store) MarkReported(ctx context.Context, agentID string) error {
	// Only records minted for agents of agentID's group: a report does not stand for a
	// runner of another group.
	err := s.conn(ctx).Exec(`UPDATE minted_runners SET reported_at = ? WHERE reported_at IS NULL AND EXISTS (
			SELECT 1 FROM runners r WHERE r.agent_id = ? AND r.provider_id <> ''
			AND r.name = minted_runners.name AND r.repo_key = minted_runners.repo_key)
		AND agent_id IN (SELECT id FROM agents WHERE agent_group = (SELECT agent_group FROM agents WHERE id = ?))`,
		s.now(), agentID, agentID).Error
	if err != nil {
		return fmt.Errorf("mark minted runners reported by agent %s: %w", agentID, err)
	}
	return nil
}

// UnreportedMinted returns up to limit runners minted before cutoff that are still not
// reported, oldest first.
func (s *Store) UnreportedMinted(ctx context.Context, cutoff time.Time, limit int) ([]MintedRunner, error) {
	var out []MintedRunner
	err := s.conn(ctx).Where("reported_at IS NULL AND minted_at < ?", cutoff.UTC()).Order("minted_at, name").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("unreported minted runners: %w", err)
	}
	return out, nil
}

// ForgetEndedMinted drops the records of runners reported before cutoff that no agent
// holds any more (they ended, or their agent has not reported them for that long) and
// returns how many.
func (s *Store) ForgetEndedMinted(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM minted_runners WHERE reported_at IS NOT NULL AND reported_at < ?
		AND NOT EXISTS (SELECT 1 FROM runners r WHERE r.name = minted_runners.name)`, cutoff.UTC())
	if res.Error != nil {
		return 0, fmt.Errorf("forget ended minted runners: %w", res.Error)
	}
	// Their usage ended when they left their agent's inventory; one that ran between two
	// heartbeats (never in an inventory) ends now.
	err := s.conn(ctx).Exec(`UPDATE runner_usage SET ended_at = ? WHERE ended_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM runners r WHERE r.name = runner_usage.name)
		AND NOT EXISTS (SELECT 1 FROM minted_runners m WHERE m.name = runner_usage.name)`, s.now()).Error
	if err != nil {
		return 0, fmt.Errorf("end usage of forgotten runners: %w", err)
	}
	return res.RowsAffected, nil
}

// MarkRan marks reported the record of the runner name minted for repoKey, when GitHub
// says it took a job there (a workflow_job event names it): it was created, so the sweep
// of unreported runners has nothing to do with it, even when it lived and went between
// two heartbeats of its agent. The record is dropped later with the other ended ones.
func (s *Store) MarkRan(ctx context.Context, name, repoKey string) error {
	err := s.conn(ctx).Model(&MintedRunner{}).
		Where("name = ? AND repo_key = ? AND reported_at IS NULL", name, repoKey).
		Update("reported_at", s.now()).Error
	if err != nil {
		return fmt.Errorf("mark minted runner %s ran: %w", name, err)
	}
	return nil
}
