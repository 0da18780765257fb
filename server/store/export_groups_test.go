package store

import (
	"context"
	"maps"
	"slices"
)

// InsertRunnersForTest writes runner rows as they are, without ReplaceRunners' rules, so
// that a test can set up an inventory (with runners of any repository) directly.
// The agents' runner revisions move, as every writer of runner rows moves them.
func InsertRunnersForTest(ctx context.Context, s *Store, runners []Runner) error {
	if err := s.conn(ctx).Create(&runners).Error; err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, r := range runners {
		ids[r.AgentID] = true
	}
	return s.bumpRunnersRev(ctx, slices.Sorted(maps.Keys(ids)))
}
