package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// PolicyRefusal is GitHub's last lasting refusal of a policy's runners (table
// policy_refusals, migration 0020).
type PolicyRefusal struct {
	PolicyID      string `gorm:"primaryKey"`
	PolicyVersion int64
	Reason        string
	RefusedAt     time.Time
}

// TableName names the table of refusals.
func (PolicyRefusal) TableName() string { return "policy_refusals" }

// RecordRefusal stores reason as the refusal of policy p at its current version,
// replacing an earlier one.
func (s *Store) RecordRefusal(ctx context.Context, p *Policy, reason string) error {
	r := PolicyRefusal{PolicyID: p.ID, PolicyVersion: p.Version, Reason: reason, RefusedAt: s.now().UTC()}
	err := s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "policy_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"policy_version", "reason", "refused_at"}),
	}).Create(&r).Error
	if err != nil {
		return fmt.Errorf("record refusal of policy %s of %s: %w", p.Name, p.RepoKey, err)
	}
	return nil
}

// ClearRefusal deletes the refusal of policy id, if any.
func (s *Store) ClearRefusal(ctx context.Context, id string) error {
	if err := s.conn(ctx).Where("policy_id = ?", id).Delete(&PolicyRefusal{}).Error; err != nil {
		return fmt.Errorf("clear refusal of policy %s: %w", id, err)
	}
	return nil
}

// RefusalsOf returns the refusals that still hold for the policies whose current versions
// versions gives (policy id → version): those recorded at that version. The map is keyed
// by policy id.
func (s *Store) RefusalsOf(ctx context.Context, versions map[string]int64) (map[string]PolicyRefusal, error) {
	out := map[string]PolicyRefusal{}
	if len(versions) == 0 {
		return out, nil
	}
	ids := make([]string, 0, len(versions))
	for id := range versions {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += 500 { // bounded IN lists
		var rows []PolicyRefusal
		if err := s.conn(ctx).Where("policy_id IN ?", ids[start:min(start+500, len(ids))]).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("refusals of policies: %w", err)
		}
		for _, r := range rows {
			if r.PolicyVersion == versions[r.PolicyID] {
				out[r.PolicyID] = r
			}
		}
	}
	return out, nil
}
