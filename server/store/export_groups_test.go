package store

import "context"

// InsertRunnersForTest writes runner rows as they are, without ReplaceRunners' rules, so
// that a test can set up an inventory (with runners of any repository) directly.
func InsertRunnersForTest(ctx context.Context, s *Store, runners []Runner) error {
	return s.conn(ctx).Create(&runners).Error
}
